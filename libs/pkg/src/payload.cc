#include "pmos/pkg/payload.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <set>
#include <system_error>

#include "pmos/base/unique_fd.h"

namespace pmos::pkg {

bool tls_enum_valid(EntryType type) {
  switch (type) {
    case EntryType::kFile:
    case EntryType::kDirectory:
    case EntryType::kSymlink:
    case EntryType::kCharDevice:
    case EntryType::kBlockDevice:
    case EntryType::kFifo:
      return true;
  }
  return false;
}

std::string_view to_string(EntryType type) {
  switch (type) {
    case EntryType::kFile: return "file";
    case EntryType::kDirectory: return "directory";
    case EntryType::kSymlink: return "symlink";
    case EntryType::kCharDevice: return "char-device";
    case EntryType::kBlockDevice: return "block-device";
    case EntryType::kFifo: return "fifo";
  }
  return "unknown";
}

ErrorOr<void> validate_path(std::string_view path) {
  if (path.empty()) return Error::decode("payload path is empty");
  if (path.size() > kMaxPathBytes) return Error::decode("payload path is longer than 4096 bytes");
  if (path.front() == '/') return Error::decode("payload path is absolute");
  if (path.find('\0') != std::string_view::npos) return Error::decode("payload path contains NUL");
  while (true) {
    auto slash = path.find('/');
    std::string_view component = path.substr(0, slash);
    if (component.empty()) return Error::decode("payload path has an empty component (// or trailing /)");
    if (component == "..") return Error::decode("payload path has a .. component");
    if (component == ".") return Error::decode("payload path has a . component");
    if (component.size() > kMaxComponentBytes)
      return Error::decode("payload path component is longer than 255 bytes");
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return {};
}

ErrorOr<void> validate_payload(const std::vector<Entry>& payload) {
  // Sorted by bytes, a directory comes before everything under it ("a" is a
  // prefix of "a/b"), so one pass sees each parent before its children.
  std::set<std::string_view> directories;
  for (std::size_t i = 0; i < payload.size(); ++i) {
    const Entry& entry = payload[i];
    TRY(validate_path(entry.path));
    if (i > 0 && !(payload[i - 1].path < entry.path))
      return Error::decode("payload entries are not sorted by path, or a path repeats");
    auto slash = entry.path.rfind('/');
    if (slash != std::string::npos &&
        !directories.contains(std::string_view(entry.path).substr(0, slash)))
      return Error::decode("payload entry's parent is not a directory entry of the payload");
    if ((entry.mode & ~kModeMask) != 0) return Error::decode("payload entry mode has bits outside 07777");
    switch (entry.type) {
      case EntryType::kFile:
        break;
      case EntryType::kDirectory:
        if (!entry.content.empty()) return Error::decode("payload directory entry has content");
        directories.insert(entry.path);
        break;
      case EntryType::kSymlink:
        if (entry.mode != kSymlinkMode) return Error::decode("payload symlink mode is not 0777");
        if (entry.content.empty() || entry.content.size() > kMaxSymlinkTargetBytes)
          return Error::decode("payload symlink target is empty or longer than 4096 bytes");
        if (std::find(entry.content.begin(), entry.content.end(), 0) != entry.content.end())
          return Error::decode("payload symlink target contains NUL");
        break;
      case EntryType::kCharDevice:
      case EntryType::kBlockDevice:
        if (entry.content.size() != 8) return Error::decode("payload device entry is not 8 bytes (major, minor)");
        break;
      case EntryType::kFifo:
        if (!entry.content.empty()) return Error::decode("payload FIFO entry has content");
        break;
    }
  }
  return {};
}

namespace {

// The one owner of a directory stream.
struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

ErrorOr<Bytes> read_regular_file(int dir_fd, const char* name) {
  // O_NOFOLLOW: the tree was lstat'ed as a regular file; if it was swapped
  // for a symlink since, refuse rather than package what it points at.
  UniqueFd fd(::openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) return Error::system("open", errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::system("fstat", errno);
  if (!S_ISREG(st.st_mode)) return Error::invalid_argument("a packaged file changed type while packing");
  Bytes content;
  std::uint8_t buffer[65536];
  while (true) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::system("read", errno);
    }
    if (n == 0) break;
    content.insert(content.end(), buffer, buffer + n);
    if (content.size() > (std::size_t{1} << 30)) return Error::invalid_argument("a packaged file exceeds 1 GiB");
  }
  return content;
}

ErrorOr<void> walk(int dir_fd, const std::string& prefix, std::vector<Entry>& out, int depth) {
  if (depth > 64) return Error::invalid_argument("directory tree is deeper than 64 levels");
  std::vector<std::string> names;
  {
    int copy = ::dup(dir_fd);
    if (copy < 0) return Error::system("dup", errno);
    DIR* dir = ::fdopendir(copy);
    if (dir == nullptr) {
      ::close(copy);
      return Error::system("fdopendir", errno);
    }
    DirPtr owner(dir);
    errno = 0;
    while (struct dirent* d = ::readdir(dir)) {
      std::string_view name = d->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    if (errno != 0) return Error::system("readdir", errno);
  }
  for (const std::string& name : names) {
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Error::system("fstatat", errno);
    Entry entry;
    entry.path = prefix.empty() ? name : prefix + "/" + name;
    entry.mode = st.st_mode & kModeMask;
    if (S_ISREG(st.st_mode)) {
      entry.type = EntryType::kFile;
      entry.content = TRY(read_regular_file(dir_fd, name.c_str()));
    } else if (S_ISDIR(st.st_mode)) {
      entry.type = EntryType::kDirectory;
    } else if (S_ISLNK(st.st_mode)) {
      entry.type = EntryType::kSymlink;
      entry.mode = kSymlinkMode;
      std::string target(kMaxSymlinkTargetBytes + 1, '\0');
      ssize_t n = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
      if (n < 0) return Error::system("readlinkat", errno);
      if (static_cast<std::size_t>(n) > kMaxSymlinkTargetBytes)
        return Error::invalid_argument("a symlink target is longer than 4096 bytes");
      entry.content.assign(target.begin(), target.begin() + n);
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      entry.type = S_ISCHR(st.st_mode) ? EntryType::kCharDevice : EntryType::kBlockDevice;
      std::uint32_t major_number = ::major(st.st_rdev), minor_number = ::minor(st.st_rdev);
      for (int shift = 24; shift >= 0; shift -= 8) entry.content.push_back(static_cast<std::uint8_t>(major_number >> shift));
      for (int shift = 24; shift >= 0; shift -= 8) entry.content.push_back(static_cast<std::uint8_t>(minor_number >> shift));
    } else if (S_ISFIFO(st.st_mode)) {
      entry.type = EntryType::kFifo;
    } else {
      return Error::invalid_argument("the tree holds a socket, which cannot be packaged");
    }
    bool is_directory = entry.type == EntryType::kDirectory;
    std::string path = entry.path;
    out.push_back(std::move(entry));
    if (is_directory) {
      UniqueFd child(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!child) return Error::system("openat", errno);
      TRY(walk(child.get(), path, out, depth + 1));
    }
  }
  return {};
}

}  // namespace

ErrorOr<std::vector<Entry>> payload_from_directory(const std::filesystem::path& root) {
  UniqueFd dir(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return Error::system("open", errno);
  std::vector<Entry> payload;
  TRY(walk(dir.get(), "", payload, 0));
  std::sort(payload.begin(), payload.end(),
            [](const Entry& a, const Entry& b) { return a.path < b.path; });
  TRY(validate_payload(payload));
  return payload;
}

}  // namespace pmos::pkg

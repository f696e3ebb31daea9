#include "pmos/base/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace pmos {

ErrorOr<UniqueFd> open_file(const std::string& path, int flags, int mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return Error::system("open", errno);
  return UniqueFd(fd);
}

ErrorOr<Bytes> read_file(const std::string& path, std::size_t max_size) {
  UniqueFd fd = TRY(open_file(path, O_RDONLY));
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return Error::system("fstat", errno);
  if (!S_ISREG(st.st_mode)) return Error::invalid_argument("not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > max_size) return Error::invalid_argument("file is larger than allowed");
  Bytes out;
  out.reserve(static_cast<std::size_t>(st.st_size));
  std::uint8_t buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::system("read", errno);
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_size) return Error::invalid_argument("file is larger than allowed");
    out.insert(out.end(), buffer, buffer + n);
  }
  return out;
}

static ErrorOr<void> write_all(int fd, BytesView data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::system("write", errno);
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

ErrorOr<void> write_file_atomic(const std::string& path, BytesView contents, int mode) {
  // A fresh name that must not exist (O_EXCL, O_NOFOLLOW): a symlink planted
  // at a predictable temporary name would otherwise redirect the secret.
  std::uint8_t random[8];
  UniqueFd urandom = TRY(open_file("/dev/urandom", O_RDONLY));
  if (::read(urandom.get(), random, sizeof random) != static_cast<ssize_t>(sizeof random))
    return Error::system("read /dev/urandom", errno);
  std::string temporary = path + ".tmp-" + to_hex(BytesView(random, sizeof random));
  {
    UniqueFd fd = TRY(open_file(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode));
    if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) return Error::system("fchmod", errno);
    TRY(write_all(fd.get(), contents));
    if (::fsync(fd.get()) != 0) return Error::system("fsync", errno);
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    int saved = errno;
    ::unlink(temporary.c_str());
    return Error::system("rename", saved);
  }
  std::string directory = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
  if (directory.empty()) directory = "/";
  UniqueFd dir = TRY(open_file(directory, O_RDONLY | O_DIRECTORY));
  if (::fsync(dir.get()) != 0) return Error::system("fsync", errno);
  return {};
}

}  // namespace pmos

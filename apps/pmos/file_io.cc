#include "file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "pmos/base/unique_fd.h"
#include "pmos/crypto/random.h"
#include "pmos/pkg/errors.h"

namespace pmos::cli {
namespace {

ErrorOr<Bytes> read_all(int fd, std::size_t max_bytes) {
  Bytes out;
  std::uint8_t buffer[65536];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::system("read", errno);
    }
    if (n == 0) return out;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) return Error::invalid_argument("file is too large");
    out.insert(out.end(), buffer, buffer + n);
  }
}

}  // namespace

ErrorOr<Bytes> read_file(const std::string& path, std::size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::system("open", errno);
  return read_all(fd.get(), max_bytes);
}

ErrorOr<Bytes> read_private_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::system("open", errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::system("fstat", errno);
  if ((st.st_mode & 077) != 0) return pkg::errors::kKeyFileTooOpen;
  return read_all(fd.get(), 4096);
}

ErrorOr<void> write_file(const std::string& path, BytesView contents, unsigned mode) {
  std::string temporary = path + ".tmp-" + to_hex(crypto::random_bytes(6));
  UniqueFd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) return Error::system("open", errno);
  std::size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd.get(), contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int saved = errno;
      ::unlink(temporary.c_str());
      return Error::system("write", saved);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0 || ::rename(temporary.c_str(), path.c_str()) != 0) {
    int saved = errno;
    ::unlink(temporary.c_str());
    return Error::system("fsync/rename", saved);
  }
  return {};
}

}  // namespace pmos::cli

#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"

namespace pmos::pkg {

// The kind of a payload entry. Device nodes and FIFOs can be represented so
// that vetting can name them and refuse them; the decoder does not.
enum class EntryType : std::uint8_t {
  kFile = 1,
  kDirectory = 2,
  kSymlink = 3,
  kCharDevice = 4,
  kBlockDevice = 5,
  kFifo = 6,
};
bool tls_enum_valid(EntryType type);
std::string_view to_string(EntryType type);

// Permission bits an entry may carry: rwx for user/group/other plus setuid,
// setgid and sticky. Vetting refuses some of them; the format refuses the rest.
inline constexpr std::uint32_t kModeMask = 07777;
inline constexpr std::uint32_t kSymlinkMode = 0777;
// Limits of the format itself (the app standard sets tighter ones).
inline constexpr std::size_t kMaxPathBytes = 4096;
inline constexpr std::size_t kMaxComponentBytes = 255;
inline constexpr std::size_t kMaxSymlinkTargetBytes = 4096;

// One file-tree entry. `content` is a regular file's bytes, a symlink's
// target, a device's 8-byte big-endian (major, minor), and empty otherwise.
// Ownership and timestamps are deliberately absent: an installed app belongs
// to its sandbox uid, and packages built from the same tree are identical.
struct Entry {
  std::string path;  // relative, '/'-separated, see validate_path()
  EntryType type = EntryType::kFile;
  std::uint32_t mode = 0;  // permission bits only (kModeMask)
  Bytes content;
  static auto tls_fields(auto& self) {
    return std::tie(self.path, self.type, self.mode, self.content);
  }
};

// A payload path: relative, components separated by single '/', none empty,
// "." or "..", no NUL, at most kMaxPathBytes (kMaxComponentBytes per
// component). Anything else could name a file outside the app's directory
// when installed.
ErrorOr<void> validate_path(std::string_view path);

// The structural rules of a payload (decode_package() applies them): entries
// sorted by path bytes with no duplicates, every path valid, every parent a
// directory entry of the payload (so no entry sits under a symlink), modes
// within kModeMask, symlinks mode 0777 with a non-empty target, devices 8
// content bytes, directories and FIFOs empty.
ErrorOr<void> validate_payload(const std::vector<Entry>& payload);

// Reads a directory tree into a sorted payload, without following symlinks
// (they are stored as symlinks). Sockets are refused (they cannot be
// packaged); device nodes and FIFOs are recorded so vetting can refuse them.
// The root directory itself is not an entry.
ErrorOr<std::vector<Entry>> payload_from_directory(const std::filesystem::path& root);

}  // namespace pmos::pkg

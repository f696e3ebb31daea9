#pragma once

#include <string>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"

namespace pmos::cli {

// Whole-file reads and writes for the command-line tools. Reads refuse files
// over `max_bytes`; writes go to a temporary file in the same directory and
// are renamed over the target, so a crash never leaves half a package.
ErrorOr<Bytes> read_file(const std::string& path, std::size_t max_bytes = std::size_t{1} << 31);
// As read_file, but refuses a file that group or others can read: a private
// key that leaked to other users is no longer private.
ErrorOr<Bytes> read_private_file(const std::string& path);
ErrorOr<void> write_file(const std::string& path, BytesView contents, unsigned mode = 0644);

}  // namespace pmos::cli

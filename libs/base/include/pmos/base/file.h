#pragma once

#include <string>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/base/unique_fd.h"

namespace pmos {

// open(2) returning the owner of the descriptor.
ErrorOr<UniqueFd> open_file(const std::string& path, int flags, int mode = 0);

// The whole file. Refuses files over `max_size` bytes (a limit, not a hint:
// callers that parse the contents must not be handed unbounded input).
ErrorOr<Bytes> read_file(const std::string& path, std::size_t max_size = 64 << 20);

// Replaces `path` with `contents` atomically and durably: written to a
// temporary file beside it, fsynced, renamed over it, and the directory
// fsynced, so a crash leaves either the old or the new file, never a torn
// one. `mode` applies to the new file (0600 for secrets).
ErrorOr<void> write_file_atomic(const std::string& path, BytesView contents, int mode = 0600);

}  // namespace pmos

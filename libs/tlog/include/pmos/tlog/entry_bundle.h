#pragma once

// Entry bundles of C2SP tlog-tiles v0.1.0 ("tile/entries/<N>[.p/<W>]"): the
// entries of one level-0 tile, each prefixed by its length as a big-endian
// uint16. So an entry is at most 65535 bytes; the log refuses larger ones
// at append time.

#include <cstddef>
#include <span>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"

namespace pmos::tlog {

inline constexpr std::size_t kMaxEntrySize = 0xffff;

// Errors if there are more than 256 entries or one exceeds kMaxEntrySize.
ErrorOr<Bytes> encode_entry_bundle(std::span<const Bytes> entries);
// Strict: exactly `width` entries (1..256), no trailing bytes, no truncated
// entry. The width comes from the path the bundle was fetched at.
ErrorOr<std::vector<Bytes>> decode_entry_bundle(BytesView bundle, std::size_t width);

}  // namespace pmos::tlog

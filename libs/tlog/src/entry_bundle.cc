#include "pmos/tlog/entry_bundle.h"

#include "pmos/tlog/tile.h"

namespace pmos::tlog {

ErrorOr<Bytes> encode_entry_bundle(std::span<const Bytes> entries) {
  if (entries.empty() || entries.size() > kTileWidth) {
    return Error::invalid_argument("entry bundle: must hold 1 to 256 entries");
  }
  Bytes out;
  for (const Bytes& entry : entries) {
    if (entry.size() > kMaxEntrySize) return Error::invalid_argument("entry bundle: entry longer than 65535 bytes");
    out.push_back(static_cast<std::uint8_t>(entry.size() >> 8));
    out.push_back(static_cast<std::uint8_t>(entry.size()));
    append(out, entry);
  }
  return out;
}

ErrorOr<std::vector<Bytes>> decode_entry_bundle(BytesView bundle, std::size_t width) {
  if (width < 1 || width > kTileWidth) return Error::invalid_argument("entry bundle: width must be 1 to 256");
  std::vector<Bytes> entries;
  entries.reserve(width);
  std::size_t pos = 0;
  while (pos < bundle.size()) {
    if (entries.size() == width) return Error::decode("entry bundle: more entries than its width");
    if (bundle.size() - pos < 2) return Error::decode("entry bundle: truncated length prefix");
    std::size_t length = (std::size_t{bundle[pos]} << 8) | bundle[pos + 1];
    pos += 2;
    if (bundle.size() - pos < length) return Error::decode("entry bundle: truncated entry");
    entries.emplace_back(bundle.begin() + static_cast<std::ptrdiff_t>(pos),
                         bundle.begin() + static_cast<std::ptrdiff_t>(pos + length));
    pos += length;
  }
  if (entries.size() != width) return Error::decode("entry bundle: fewer entries than its width");
  return entries;
}

}  // namespace pmos::tlog

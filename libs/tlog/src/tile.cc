#include "pmos/tlog/tile.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "pmos/base/check.h"

namespace pmos::tlog {
namespace {

constexpr std::size_t kHashSize = sizeof(Hash);

void append_index(std::string& out, std::uint64_t index) {
  std::string digits = std::to_string(index);
  // Left-pad to whole 3-digit groups.
  digits.insert(0, (3 - digits.size() % 3) % 3, '0');
  for (std::size_t i = 0; i < digits.size(); i += 3) {
    if (i > 0) out += '/';
    if (i + 3 < digits.size()) out += 'x';
    out.append(digits, i, 3);
  }
}

std::string path_with(std::string_view head, const TileId& tile) {
  VERIFY(tile.width >= 1 && tile.width <= kTileWidth);
  std::string out(head);
  append_index(out, tile.index);
  if (tile.partial()) {
    out += ".p/";
    out += std::to_string(tile.width);
  }
  return out;
}

// A decimal with no leading zero (other than "0" itself) and at most `max`.
ErrorOr<std::uint64_t> parse_small_decimal(std::string_view text, std::uint64_t max) {
  if (text.empty() || text.size() > 3) return Error::decode("tile path: bad number");
  if (text.size() > 1 && text[0] == '0') return Error::decode("tile path: leading zero");
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return Error::decode("tile path: bad number");
  if (value > max) return Error::decode("tile path: number out of range");
  return value;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  while (true) {
    std::size_t at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return parts;
}

// Parses "<N>[.p/<W>]" given as path elements.
ErrorOr<TileId> parse_index_and_width(std::span<const std::string_view> elements) {
  TileId tile;
  std::uint64_t index = 0;
  std::size_t i = 0;
  bool last = false;
  // 2^64 has 20 digits: at most 7 groups.
  for (; i < elements.size() && !last; ++i) {
    std::string_view element = elements[i];
    if (!element.empty() && element[0] == 'x') {
      element.remove_prefix(1);
    } else {
      last = true;
      if (element.size() == 5 && element.substr(3) == ".p") element = element.substr(0, 3);
    }
    if (i >= 7) return Error::decode("tile path: index too long");
    if (element.size() != 3 || !std::all_of(element.begin(), element.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return Error::decode("tile path: index element is not three digits");
    }
    std::uint64_t group = static_cast<std::uint64_t>((element[0] - '0') * 100 + (element[1] - '0') * 10 + (element[2] - '0'));
    if (__builtin_mul_overflow(index, std::uint64_t{1000}, &index) ||
        __builtin_add_overflow(index, group, &index)) {
      return Error::decode("tile path: index too large");
    }
  }
  if (!last) return Error::decode("tile path: index ends with an 'x' element");
  tile.index = index;
  bool partial = elements[i - 1].size() == 5;
  if (partial) {
    if (i + 1 != elements.size()) return Error::decode("tile path: expected exactly a width after .p");
    std::uint64_t width = TRY(parse_small_decimal(elements[i], kTileWidth - 1));
    if (width == 0) return Error::decode("tile path: partial width must be 1 to 255");
    tile.width = static_cast<std::uint16_t>(width);
  } else if (i != elements.size()) {
    return Error::decode("tile path: trailing path elements");
  }
  return tile;
}

}  // namespace

std::string tile_path(const TileId& tile) {
  VERIFY(tile.level <= kMaxTileLevel);
  return path_with("tile/" + std::to_string(tile.level) + "/", tile);
}

std::string entry_bundle_path(const TileId& tile) { return path_with("tile/entries/", tile); }

ErrorOr<TileId> parse_tile_path(std::string_view path) {
  std::vector<std::string_view> elements = split(path, '/');
  if (elements.size() < 3 || elements[0] != "tile") return Error::decode("tile path: must start with tile/<L>/");
  std::uint64_t level = TRY(parse_small_decimal(elements[1], kMaxTileLevel));
  TileId tile = TRY(parse_index_and_width(std::span(elements).subspan(2)));
  tile.level = static_cast<std::uint8_t>(level);
  // Round trip: refuses non-canonical spellings such as x000/001 for 1.
  if (tile_path(tile) != path) return Error::decode("tile path: not in canonical form");
  return tile;
}

ErrorOr<TileId> parse_entry_bundle_path(std::string_view path) {
  std::vector<std::string_view> elements = split(path, '/');
  if (elements.size() < 3 || elements[0] != "tile" || elements[1] != "entries") {
    return Error::decode("entry bundle path: must start with tile/entries/");
  }
  TileId tile = TRY(parse_index_and_width(std::span(elements).subspan(2)));
  if (entry_bundle_path(tile) != path) return Error::decode("entry bundle path: not in canonical form");
  return tile;
}

TileId tile_for_node(const NodeId& node, std::uint64_t tree_size) {
  const unsigned level = node.level / kTileHeight;
  const unsigned height_in_tile = node.level % kTileHeight;
  const std::uint64_t first = node.index << height_in_tile;  // position at level 8*L
  const std::uint64_t at_level = tree_size >> (level * kTileHeight);
  TileId tile;
  tile.level = static_cast<std::uint8_t>(level);
  tile.index = first / kTileWidth;
  VERIFY(at_level > tile.index * kTileWidth);
  tile.width = static_cast<std::uint16_t>(std::min<std::uint64_t>(kTileWidth, at_level - tile.index * kTileWidth));
  return tile;
}

std::vector<TileId> tiles_for_plan(const ProofPlan& plan, std::uint64_t tree_size) {
  std::vector<TileId> tiles;
  for (const NodeId& node : plan.nodes) {
    TileId tile = tile_for_node(node, tree_size);
    if (std::find(tiles.begin(), tiles.end(), tile) == tiles.end()) tiles.push_back(tile);
  }
  return tiles;
}

std::vector<TileId> tiles_for_growth(std::uint64_t old_size, std::uint64_t new_size) {
  std::vector<TileId> tiles;
  if (new_size <= old_size) return tiles;
  for (unsigned level = 0; level * kTileHeight < 64; ++level) {
    std::uint64_t new_count = new_size >> (level * kTileHeight);
    std::uint64_t old_count = old_size >> (level * kTileHeight);
    if (new_count == old_count) continue;  // and so at every level above
    for (std::uint64_t n = old_count / kTileWidth; n <= (new_count - 1) / kTileWidth; ++n) {
      auto width = static_cast<std::uint16_t>(std::min<std::uint64_t>(kTileWidth, new_count - n * kTileWidth));
      tiles.push_back(TileId{static_cast<std::uint8_t>(level), n, width});
    }
  }
  return tiles;
}

ErrorOr<void> TileHashReader::read_hashes(std::span<const NodeId> nodes, std::span<Hash> out) const {
  VERIFY(nodes.size() == out.size());
  for (const NodeId& node : nodes) {
    // Only complete subtrees of this tree exist in its tiles.
    if (node.level >= 64 || node.index >= (tree_size_ >> node.level)) {
      return Error::not_found("tiles: node is not a complete subtree of the tree");
    }
  }
  std::vector<TileId> tiles;
  std::vector<std::size_t> tile_of(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    TileId tile = tile_for_node(nodes[i], tree_size_);
    auto it = std::find(tiles.begin(), tiles.end(), tile);
    tile_of[i] = static_cast<std::size_t>(it - tiles.begin());
    if (it == tiles.end()) tiles.push_back(tile);
  }
  std::vector<Bytes> contents = TRY(tiles_.read_tiles(tiles));
  if (contents.size() != tiles.size()) return Error::internal("tiles: reader returned the wrong number of tiles");
  for (std::size_t t = 0; t < tiles.size(); ++t) {
    std::size_t size = contents[t].size();
    if (size != tiles[t].width * kHashSize && size != kTileWidth * kHashSize) {
      return Error::decode("tiles: tile contents have the wrong size");
    }
  }
  std::vector<Hash> scratch;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const unsigned height_in_tile = nodes[i].level % kTileHeight;
    const std::uint64_t count = std::uint64_t{1} << height_in_tile;
    const std::uint64_t first = (nodes[i].index << height_in_tile) % kTileWidth;
    const Bytes& tile = contents[tile_of[i]];
    scratch.resize(count);
    for (std::uint64_t j = 0; j < count; ++j) {
      std::memcpy(scratch[j].data(), tile.data() + (first + j) * kHashSize, kHashSize);
    }
    // The perfect subtree above `count` consecutive tile hashes.
    for (std::uint64_t width = count; width > 1; width /= 2) {
      for (std::uint64_t j = 0; j < width / 2; ++j) scratch[j] = node_hash(scratch[2 * j], scratch[2 * j + 1]);
    }
    out[i] = scratch[0];
  }
  return {};
}

ErrorOr<Bytes> read_tile(const HashReader& reader, const TileId& tile) {
  if (tile.level > 7 || tile.width < 1 || tile.width > kTileWidth) {
    return Error::invalid_argument("tiles: no such tile in a tree of fewer than 2^64 leaves");
  }
  // Beyond this index, index * 256 wraps around and would name other tiles'
  // hashes: a request path must never be able to do that.
  if (tile.index > (~std::uint64_t{0} >> kTileHeight)) return Error::not_found("tiles: tile index beyond any tree");
  std::vector<NodeId> nodes(tile.width);
  for (std::uint16_t i = 0; i < tile.width; ++i) {
    nodes[i] = NodeId{static_cast<std::uint8_t>(tile.level * kTileHeight), tile.index * kTileWidth + i};
  }
  std::vector<Hash> hashes(nodes.size());
  TRY(reader.read_hashes(nodes, hashes));
  Bytes out;
  out.reserve(hashes.size() * kHashSize);
  for (const Hash& h : hashes) append(out, h);
  return out;
}

}  // namespace pmos::tlog

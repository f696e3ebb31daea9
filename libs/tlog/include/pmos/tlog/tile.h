#pragma once

// The tiled log of C2SP tlog-tiles v0.1.0: the Merkle tree published as
// static "tiles" of 256 consecutive hashes at every eighth tree level.
//
//   tile/<L>/<N>[.p/<W>]   hashes at tree level 8*L, positions N*256 ...
//   tile/entries/<N>[.p/<W>] the entries of level-0 tile N (entry_bundle.h)
//
// <N> is written in 3-digit groups, all but the last prefixed with 'x'
// (1234067 -> x001/x234/067); a partial tile (fewer than 256 hashes, only
// ever the rightmost of its level) carries ".p/<W>".
//
// A tile at level L holds the roots of complete subtrees of 256^L leaves;
// the 7 tree levels in between are recomputed by hashing inside a tile. Any
// complete subtree of the tree is therefore found in exactly one tile, which
// is what TileHashReader uses to serve proof generation (proof.h) from tiles.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/tlog/hash_reader.h"
#include "pmos/tlog/proof.h"

namespace pmos::tlog {

inline constexpr std::uint8_t kTileHeight = 8;
inline constexpr std::uint16_t kTileWidth = 256;  // hashes in a full tile
inline constexpr std::uint8_t kMaxTileLevel = 63;  // the spec's bound on <L>

// One tile: its level, its index within the level, and how many hashes it
// holds (kTileWidth for a full tile, 1..255 for a partial one). For an entry
// bundle the level is 0 and width counts entries.
struct TileId {
  std::uint8_t level = 0;
  std::uint64_t index = 0;
  std::uint16_t width = kTileWidth;
  bool partial() const { return width < kTileWidth; }
  friend bool operator==(const TileId&, const TileId&) = default;
};

// "tile/<L>/<N>[.p/<W>]" and "tile/entries/<N>[.p/<W>]", relative to the
// log's prefix. The id must be valid (level <= 63, width 1..256).
std::string tile_path(const TileId& tile);
std::string entry_bundle_path(const TileId& tile);
// Parse the paths above strictly: no leading zeroes, canonical <N> groups,
// width 1..255 after ".p/", nothing else. A server maps request paths with
// these, so anything that is not the one canonical spelling is refused.
ErrorOr<TileId> parse_tile_path(std::string_view path);
ErrorOr<TileId> parse_entry_bundle_path(std::string_view path);

// The tile, with its width at `tree_size`, that holds `node` (a complete
// subtree of that tree). Level-(8L) nodes come from level-L tiles directly.
TileId tile_for_node(const NodeId& node, std::uint64_t tree_size);
// The distinct tiles a plan's nodes live in: what a client must fetch to
// compute that proof for a tree of `tree_size` leaves.
std::vector<TileId> tiles_for_plan(const ProofPlan& plan, std::uint64_t tree_size);
// The tiles whose contents at `new_size` differ from those at `old_size`:
// what a log writes after growing. Entry bundles follow the level-0 tiles.
std::vector<TileId> tiles_for_growth(std::uint64_t old_size, std::uint64_t new_size);

// Source of tile contents (a cache, a directory, an HTTP client). Contents
// of a tile are width * 32 bytes of hashes; a reader may instead return the
// full 8192-byte tile for a partial one (the fallback tlog-tiles allows once
// the partial tile has been deleted). Thread-safety as for HashReader.
class TileReader {
 public:
  virtual ~TileReader() = default;
  // Returns the contents of tiles[i] in element i.
  virtual ErrorOr<std::vector<Bytes>> read_tiles(std::span<const TileId> tiles) const = 0;
};

// A HashReader over the tiles of the tree of one size, so that
// inclusion_proof(TileHashReader(tiles, size), index, size) computes a proof
// from tiles. Each read_hashes call asks the TileReader once for all tiles
// it needs. Tiles from an untrusted server need no separate check: a wrong
// hash yields a proof that fails verification against the signed root.
// Borrows `tiles`, which must outlive this object. Thread-safe if `tiles` is.
class TileHashReader final : public HashReader {
 public:
  TileHashReader(const TileReader& tiles, std::uint64_t tree_size)
      : tiles_(tiles), tree_size_(tree_size) {}

  ErrorOr<void> read_hashes(std::span<const NodeId> nodes, std::span<Hash> out) const override;

 private:
  const TileReader& tiles_;
  std::uint64_t tree_size_;
};

// A tile's contents from stored hashes: what the log serves at tile_path().
ErrorOr<Bytes> read_tile(const HashReader& reader, const TileId& tile);

}  // namespace pmos::tlog

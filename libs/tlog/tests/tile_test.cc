#include "pmos/tlog/tile.h"

#include <map>

#include <gtest/gtest.h>

#include "pmos/tlog/entry_bundle.h"
#include "pmos/tlog/memory_hash_store.h"
#include "pmos/tlog/proof.h"
#include "test_util.h"

namespace pmos::tlog {
namespace {

TEST(TilePath, SpecExamples) {
  // tlog-tiles: "index 1234067 will be encoded as x001/x234/067".
  EXPECT_EQ(tile_path(TileId{0, 1234067, 256}), "tile/0/x001/x234/067");
  EXPECT_EQ(tile_path(TileId{3, 1234067, 8}), "tile/3/x001/x234/067.p/8");
  EXPECT_EQ(tile_path(TileId{0, 0, 256}), "tile/0/000");
  EXPECT_EQ(tile_path(TileId{1, 999, 1}), "tile/1/999.p/1");
  EXPECT_EQ(tile_path(TileId{2, 1000, 256}), "tile/2/x001/000");
  EXPECT_EQ(tile_path(TileId{63, 5, 255}), "tile/63/005.p/255");
  EXPECT_EQ(entry_bundle_path(TileId{0, 1234067, 256}), "tile/entries/x001/x234/067");
  EXPECT_EQ(entry_bundle_path(TileId{0, 7, 112}), "tile/entries/007.p/112");
  EXPECT_EQ(tile_path(TileId{0, ~std::uint64_t{0}, 256}), "tile/0/x018/x446/x744/x073/x709/x551/615");
}

TEST(TilePath, ParseRoundTrips) {
  for (std::uint64_t index : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{999}, std::uint64_t{1000},
                              std::uint64_t{1234067}, ~std::uint64_t{0}}) {
    for (std::uint16_t width : {1, 17, 255, 256}) {
      for (std::uint8_t level : {0, 1, 9, 63}) {
        TileId tile{level, index, width};
        auto parsed = parse_tile_path(tile_path(tile));
        ASSERT_TRUE(parsed) << tile_path(tile);
        EXPECT_EQ(*parsed, tile);
      }
      TileId bundle{0, index, width};
      auto parsed = parse_entry_bundle_path(entry_bundle_path(bundle));
      ASSERT_TRUE(parsed) << entry_bundle_path(bundle);
      EXPECT_EQ(*parsed, bundle);
    }
  }
}

TEST(TilePath, ParseRefusesNonCanonicalPaths) {
  for (const char* path : {
           "", "tile", "tile/", "tile/0", "tile/0/", "tiles/0/000", "/tile/0/000", "tile/0/000/",
           "tile/00/000",        // leading zero in level
           "tile/64/000",        // level above 63
           "tile/-1/000", "tile/a/000",
           "tile/0/0", "tile/0/01", "tile/0/0000",  // not three digits
           "tile/0/x000/001",    // leading zero group
           "tile/0/x001",        // ends in an x group
           "tile/0/001/002",     // inner group without x
           "tile/0/x1234/567", "tile/0/x01/234",
           "tile/0/000.p",       // no width
           "tile/0/000.p/",      // empty width
           "tile/0/000.p/0",     // zero width
           "tile/0/000.p/256",   // a full tile has no .p
           "tile/0/000.p/08",    // leading zero in width
           "tile/0/000.p/8/1",   // trailing element
           "tile/0/000.q/8", "tile/0/x000.p/8",
           "tile/0/x018/x446/x744/x073/x709/x551/616",  // 2^64
           "tile/0/x001/x018/x446/x744/x073/x709/x551/615",
           "tile/entries/000",   // a bundle is not a hash tile
       }) {
    EXPECT_FALSE(parse_tile_path(path)) << path;
  }
  for (const char* path : {"tile/0/000", "tile/entries/", "tile/entries/0", "tile/entries/x000/001",
                           "tile/entries/000.p/256", "tile/entries/000.p/0"}) {
    EXPECT_FALSE(parse_entry_bundle_path(path)) << path;
  }
}

TEST(TileLayout, SpecExampleOf70000Entries) {
  // tlog-tiles: "a tree of size 70,000 will be represented by 273 full level
  // 0 tiles, one partial level 0 tile of width 112, one full level 1 tile,
  // one partial level 1 tile of width 17, and one partial level 2 tile of
  // width 1."
  std::vector<TileId> tiles = tiles_for_growth(0, 70000);
  std::map<std::pair<int, int>, int> count;  // (level, width) -> tiles
  for (const TileId& tile : tiles) ++count[{tile.level, tile.width}];
  std::map<std::pair<int, int>, int> want = {{{0, 256}, 273}, {{0, 112}, 1}, {{1, 256}, 1}, {{1, 17}, 1}, {{2, 1}, 1}};
  EXPECT_EQ(count, want);
  // "a tree of size 256 will be represented by a full level 0 tile and a
  // partial level 1 tile of width 1."
  EXPECT_EQ(tiles_for_growth(0, 256), (std::vector<TileId>{{0, 0, 256}, {1, 0, 1}}));
  // Growth rewrites only the rightmost tiles.
  EXPECT_EQ(tiles_for_growth(70000, 70001), (std::vector<TileId>{{0, 273, 113}}));
  EXPECT_EQ(tiles_for_growth(255, 257), (std::vector<TileId>{{0, 0, 256}, {0, 1, 1}, {1, 0, 1}}));
  EXPECT_TRUE(tiles_for_growth(5, 5).empty());
}

// Serves tiles from a hash store, the way the log service will; counts
// requests, and can answer a partial tile with the full one.
class StoreTileReader final : public TileReader {
 public:
  explicit StoreTileReader(const MemoryHashStore& store, bool full_fallback = false)
      : store_(store), full_fallback_(full_fallback) {}
  ErrorOr<std::vector<Bytes>> read_tiles(std::span<const TileId> tiles) const override {
    ++batches_;
    std::vector<Bytes> out;
    for (TileId tile : tiles) {
      ++tiles_read_;
      if (full_fallback_) tile.width = kTileWidth;
      out.push_back(TRY(read_tile(store_, tile)));
    }
    return out;
  }
  mutable std::size_t batches_ = 0;
  mutable std::size_t tiles_read_ = 0;

 private:
  const MemoryHashStore& store_;
  bool full_fallback_;
};

class TileProofTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    store_ = new MemoryHashStore;
    for (std::uint64_t i = 0; i < kSize; ++i) store_->append(leaf_hash(testing::entry(i)));
  }
  static void TearDownTestSuite() { delete store_; }
  static constexpr std::uint64_t kSize = 70000;
  static MemoryHashStore* store_;
};
MemoryHashStore* TileProofTest::store_ = nullptr;

TEST_F(TileProofTest, ProofsFromTilesEqualProofsFromTheStore) {
  StoreTileReader tiles(*store_);
  std::vector<std::uint64_t> sizes = {1, 2, 7, 255, 256, 257, 511, 512, 513, 65535, 65536, 65537, 66000, kSize};
  for (std::uint64_t size : sizes) {
    TileHashReader reader(tiles, size);
    ASSERT_EQ(tree_hash(reader, size).value(), tree_hash(*store_, size).value()) << size;
    std::vector<std::uint64_t> indexes = {0, size / 3, size / 2, size - 1};
    if (size <= 600) {
      indexes.clear();
      for (std::uint64_t i = 0; i < size; ++i) indexes.push_back(i);
    }
    for (std::uint64_t index : indexes) {
      ProofPlan plan = plan_inclusion_proof(index, size).value();
      tiles.batches_ = 0;
      tiles.tiles_read_ = 0;
      auto from_tiles = inclusion_proof(reader, index, size);
      ASSERT_TRUE(from_tiles) << size << " " << index;
      // One round of fetches per proof, of exactly the planned tiles.
      EXPECT_EQ(tiles.batches_, plan.nodes.empty() ? 0u : 1u);
      EXPECT_EQ(tiles.tiles_read_, tiles_for_plan(plan, size).size());
      EXPECT_EQ(*from_tiles, inclusion_proof(*store_, index, size).value()) << size << " " << index;
    }
    for (std::uint64_t old_size : {std::uint64_t{1}, size / 2, size - 1, size}) {
      if (old_size == 0) continue;
      EXPECT_EQ(consistency_proof(reader, old_size, size).value(),
                consistency_proof(*store_, old_size, size).value())
          << old_size << " " << size;
    }
  }
}

TEST_F(TileProofTest, FullTileFallbackGivesTheSameProofs) {
  StoreTileReader full(*store_, /*full_fallback=*/true);
  const std::uint64_t size = 1000;  // tiles: 3 full + partial 232 at level 0
  TileHashReader reader(full, size);
  for (std::uint64_t index : {0, 500, 999}) {
    EXPECT_EQ(inclusion_proof(reader, index, size).value(), inclusion_proof(*store_, index, size).value());
  }
}

class FixedTileReader final : public TileReader {
 public:
  explicit FixedTileReader(Bytes contents) : contents_(std::move(contents)) {}
  ErrorOr<std::vector<Bytes>> read_tiles(std::span<const TileId> tiles) const override {
    return std::vector<Bytes>(tiles.size(), contents_);
  }

 private:
  Bytes contents_;
};

TEST(TileHashReader, RefusesBadTilesAndNodesOutsideTheTree) {
  FixedTileReader short_tiles(Bytes(31));
  TileHashReader reader(short_tiles, 10);
  EXPECT_STREQ(tree_hash(reader, 10).error().message(), "tiles: tile contents have the wrong size");
  FixedTileReader good(Bytes(10 * 32));
  TileHashReader ten(good, 10);
  EXPECT_TRUE(tree_hash(ten, 10));
  EXPECT_EQ(tree_hash(ten, 11).error().category(), ErrorCategory::kNotFound);
  EXPECT_EQ(inclusion_proof(ten, 10, 12).error().category(), ErrorCategory::kNotFound);
}

TEST(TileHashReader, TilesHoldTheSpecifiedSubtreeHashes) {
  // Level-1 tile entry i is MTH of leaves [256 i, 256 (i+1)) (tlog-tiles).
  MemoryHashStore store;
  std::vector<Hash> leaves;
  for (std::uint64_t i = 0; i < 600; ++i) {
    leaves.push_back(leaf_hash(testing::entry(i)));
    store.append(leaves.back());
  }
  Bytes level1 = read_tile(store, TileId{1, 0, 2}).value();
  ASSERT_EQ(level1.size(), 64u);
  Hash second = root_from_leaf_hashes(std::span(leaves).subspan(256, 256));
  EXPECT_TRUE(std::equal(second.begin(), second.end(), level1.begin() + 32));
  Bytes level0 = read_tile(store, TileId{0, 2, 88}).value();
  EXPECT_TRUE(std::equal(leaves[512].begin(), leaves[512].end(), level0.begin()));
  EXPECT_EQ(read_tile(store, TileId{0, 2, 89}).error().category(), ErrorCategory::kNotFound);
  // An index whose first hash position wraps past 2^64 must not alias tile 0.
  EXPECT_EQ(read_tile(store, TileId{0, (~std::uint64_t{0} >> 8) + 1, 256}).error().category(),
            ErrorCategory::kNotFound);
  EXPECT_EQ(read_tile(store, TileId{8, 0, 1}).error().category(), ErrorCategory::kInvalidArgument);
}

TEST(EntryBundle, RoundTripAndHashesMatchLevel0Tile) {
  std::vector<Bytes> entries;
  MemoryHashStore store;
  for (std::uint64_t i = 0; i < 300; ++i) {
    entries.push_back(testing::entry(i));
    store.append(leaf_hash(entries.back()));
  }
  entries[3] = Bytes();          // empty entries are allowed
  entries[4] = Bytes(65535, 7);  // and the longest
  std::vector<Bytes> bundle_entries(entries.begin() + 256, entries.end());
  Bytes bundle = encode_entry_bundle(bundle_entries).value();
  EXPECT_EQ(bundle[0], 0);
  EXPECT_EQ(bundle[1], testing::entry(256).size());
  auto decoded = decode_entry_bundle(bundle, 44);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(*decoded, bundle_entries);
  Bytes tile = read_tile(store, TileId{0, 1, 44}).value();
  for (std::size_t i = 0; i < decoded->size(); ++i) {
    Hash h = leaf_hash((*decoded)[i]);
    EXPECT_TRUE(std::equal(h.begin(), h.end(), tile.begin() + static_cast<std::ptrdiff_t>(32 * i)));
  }
  std::vector<Bytes> first(entries.begin(), entries.begin() + 256);
  Bytes full = encode_entry_bundle(first).value();
  EXPECT_EQ(decode_entry_bundle(full, 256).value(), first);
}

TEST(EntryBundle, StrictDecoding) {
  std::vector<Bytes> two = {to_bytes("ab"), to_bytes("c")};
  Bytes bundle = encode_entry_bundle(two).value();
  EXPECT_EQ(bundle, (Bytes{0, 2, 'a', 'b', 0, 1, 'c'}));
  EXPECT_STREQ(decode_entry_bundle(bundle, 3).error().message(), "entry bundle: fewer entries than its width");
  EXPECT_STREQ(decode_entry_bundle(bundle, 1).error().message(), "entry bundle: more entries than its width");
  Bytes truncated(bundle.begin(), bundle.end() - 1);
  EXPECT_STREQ(decode_entry_bundle(truncated, 2).error().message(), "entry bundle: truncated entry");
  Bytes half_prefix = bundle;
  half_prefix.push_back(0);
  EXPECT_STREQ(decode_entry_bundle(half_prefix, 3).error().message(), "entry bundle: truncated length prefix");
  EXPECT_FALSE(decode_entry_bundle(bundle, 0));
  EXPECT_FALSE(decode_entry_bundle(bundle, 257));
  EXPECT_FALSE(encode_entry_bundle(std::vector<Bytes>{Bytes(65536)}));
  EXPECT_FALSE(encode_entry_bundle(std::vector<Bytes>(257, Bytes{1})));
  EXPECT_FALSE(encode_entry_bundle(std::vector<Bytes>{}));
}

}  // namespace
}  // namespace pmos::tlog

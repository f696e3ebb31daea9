// The log on both store back ends: durable appends, signed checkpoints,
// proofs from the stored tiles, restarts.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "pmos/tlog/entry_bundle.h"
#include "pmos/tlog/memory_hash_store.h"
#include "pmos/tlog/proof.h"
#include "pmos/tlogd/log.h"
#include "store_fixture.h"

namespace pmos::tlogd {
namespace {

using store::last_error_detail;
using store::testing::StoreTest;

constexpr std::string_view kOrigin = "log.test.example/tlogd";

Bytes entry_for(std::uint64_t i) { return to_bytes("entry " + std::to_string(i)); }

// Serves tiles straight from the log, as the HTTP layer does.
class LogTileReader final : public tlog::TileReader {
 public:
  explicit LogTileReader(const Log& log) : log_(log) {}
  ErrorOr<std::vector<Bytes>> read_tiles(std::span<const tlog::TileId> tiles) const override {
    std::vector<Bytes> out;
    for (const tlog::TileId& tile : tiles) out.push_back(TRY(log_.read_tile(tile)));
    return out;
  }

 private:
  const Log& log_;
};

class LogTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    auto key = tlog::Ed25519NoteSigner::generate(kOrigin);
    ASSERT_TRUE(key.has_value());
    skey_ = std::string(as_string(key->skey().view()));
    open_database();
  }
  void TearDown() override {
    log_.reset();
    database_.reset();
    StoreTest::TearDown();
  }

  void open_database() {
    ASSERT_OK_AND_ASSIGN(database_, store::Database::create(database_config()));
  }
  tlog::Ed25519NoteSigner key() const { return tlog::Ed25519NoteSigner::from_skey(skey_).value(); }
  void open_log() { ASSERT_OK_AND_ASSIGN(log_, Log::open(*database_, key())); }
  // Closes the log and the database, as a process exit would.
  void close() {
    log_.reset();
    database_.reset();
  }

  void append_range(std::uint64_t from, std::uint64_t to) {
    for (std::uint64_t i = from; i < to; ++i) {
      auto index = log_->append(entry_for(i));
      ASSERT_TRUE(index.has_value()) << index.error().to_string();
      ASSERT_EQ(*index, i);
      reference_.append(tlog::leaf_hash(entry_for(i)));
    }
  }

  tlog::Checkpoint open_published() {
    auto note = log_->checkpoint().note;
    auto opened = tlog::open_checkpoint(note, kOrigin, key().verifier());
    EXPECT_TRUE(opened.has_value()) << opened.error().to_string();
    return opened ? opened->checkpoint : tlog::Checkpoint{};
  }

  std::string skey_;
  std::unique_ptr<store::Database> database_;
  std::unique_ptr<Log> log_;
  tlog::MemoryHashStore reference_;  // the tree the log must build
};

TEST_P(LogTest, NewLogPublishesTheEmptyTree) {
  open_log();
  tlog::Checkpoint checkpoint = open_published();
  EXPECT_EQ(checkpoint.origin, kOrigin);
  EXPECT_EQ(checkpoint.size, 0u);
  EXPECT_EQ(checkpoint.root, tlog::empty_tree_hash());
}

TEST_P(LogTest, AppendReturnsDenseIndicesThatSurviveReopening) {
  open_log();
  append_range(0, 20);
  // Not integrated yet: appended is not published.
  EXPECT_EQ(log_->size(), 0u);
  EXPECT_EQ(log_->read_entry(0).error().category(), ErrorCategory::kNotFound);
  close();
  open_database();
  open_log();  // integrates what was appended before the "exit"
  EXPECT_EQ(log_->size(), 20u);
  for (std::uint64_t i = 0; i < 20; ++i) {
    ASSERT_OK_AND_ASSIGN(Bytes entry, log_->read_entry(i));
    EXPECT_EQ(entry, entry_for(i));
  }
}

TEST_P(LogTest, RefusesEntriesThatDoNotFitABundle) {
  open_log();
  EXPECT_FALSE(log_->append(Bytes{}).has_value());
  EXPECT_FALSE(log_->append(Bytes(tlog::kMaxEntrySize + 1, 'x')).has_value());
  ASSERT_OK_AND_ASSIGN(auto index, log_->append(Bytes(tlog::kMaxEntrySize, 'x')));
  EXPECT_EQ(index, 0u);
}

TEST_P(LogTest, IntegrateSignsACheckpointTheVkeyVerifies) {
  open_log();
  append_range(0, 5);
  ASSERT_OK_AND_ASSIGN(auto size, log_->integrate());
  EXPECT_EQ(size, 5u);
  auto verifier = tlog::Ed25519NoteVerifier::from_vkey(log_->verifier().vkey());
  ASSERT_TRUE(verifier.has_value());
  auto opened = tlog::open_checkpoint(log_->checkpoint().note, kOrigin, *verifier);
  ASSERT_TRUE(opened.has_value()) << opened.error().to_string();
  EXPECT_EQ(opened->checkpoint.size, 5u);
  std::vector<tlog::Hash> leaves;
  for (std::uint64_t i = 0; i < 5; ++i) leaves.push_back(tlog::leaf_hash(entry_for(i)));
  EXPECT_EQ(opened->checkpoint.root, tlog::root_from_leaf_hashes(leaves));

  // Another key, or the right key under another origin, does not open it.
  auto other = tlog::Ed25519NoteSigner::generate(kOrigin);
  ASSERT_TRUE(other.has_value());
  EXPECT_FALSE(tlog::open_checkpoint(log_->checkpoint().note, kOrigin, other->verifier()).has_value());
  EXPECT_FALSE(tlog::open_checkpoint(log_->checkpoint().note, "other/origin", *verifier).has_value());
  // Nothing new: no new checkpoint.
  std::string before = log_->checkpoint().note;
  ASSERT_OK_AND_ASSIGN(size, log_->integrate());
  EXPECT_EQ(size, 5u);
  EXPECT_EQ(log_->checkpoint().note, before);
}

TEST_P(LogTest, ProofsFromStoredTilesVerifyAgainstEveryCheckpoint) {
  open_log();
  LogTileReader tiles(*log_);
  std::vector<tlog::Checkpoint> published{open_published()};
  // Batch sizes that cross tile edges in every way: into, onto and past a
  // full level-0 tile, and into the second tile level (> 256 entries).
  std::uint64_t size = 0;
  for (std::uint64_t batch : {1, 6, 249, 1, 255, 300, 2, 1}) {
    append_range(size, size + batch);
    size += batch;
    ASSERT_OK_AND_ASSIGN(auto integrated, log_->integrate());
    ASSERT_EQ(integrated, size);
    tlog::Checkpoint checkpoint = open_published();
    ASSERT_EQ(checkpoint.size, size);
    ASSERT_OK_AND_ASSIGN(auto expected_root, tlog::tree_hash(reference_, size));
    ASSERT_EQ(checkpoint.root, expected_root);

    // Every tile the log wrote for this growth equals the reference tile.
    for (const tlog::TileId& tile : tlog::tiles_for_growth(published.back().size, size)) {
      ASSERT_OK_AND_ASSIGN(Bytes served, log_->read_tile(tile));
      ASSERT_OK_AND_ASSIGN(Bytes expected, tlog::read_tile(reference_, tile));
      EXPECT_EQ(served, expected) << tlog::tile_path(tile);
    }
    // Consistency with every earlier checkpoint, computed from tiles.
    tlog::TileHashReader reader(tiles, size);
    for (const tlog::Checkpoint& old : published) {
      ASSERT_OK_AND_ASSIGN(auto proof, tlog::consistency_proof(reader, old.size, size));
      EXPECT_TRUE(tlog::verify_consistency(old.size, size, old.root, checkpoint.root, proof).has_value())
          << old.size << " -> " << size;
    }
    published.push_back(checkpoint);
  }
  // Inclusion of every entry in the final tree, from tiles; a proof for
  // the wrong entry or against an older root fails.
  const tlog::Checkpoint& last = published.back();
  tlog::TileHashReader reader(tiles, size);
  for (std::uint64_t i = 0; i < size; ++i) {
    ASSERT_OK_AND_ASSIGN(auto proof, tlog::inclusion_proof(reader, i, size));
    ASSERT_TRUE(tlog::verify_inclusion(i, size, tlog::leaf_hash(entry_for(i)), proof, last.root).has_value()) << i;
    ASSERT_FALSE(tlog::verify_inclusion(i, size, tlog::leaf_hash(entry_for(i + 1)), proof, last.root).has_value());
  }
  ASSERT_OK_AND_ASSIGN(auto proof, tlog::inclusion_proof(reader, 3, size));
  EXPECT_FALSE(tlog::verify_inclusion(3, size, tlog::leaf_hash(entry_for(3)), proof, published[2].root).has_value());
}

TEST_P(LogTest, ServesOnlyIntegratedTilesAndBundles) {
  open_log();
  append_range(0, 300);
  EXPECT_EQ(log_->read_tile({0, 0, 256}).error().category(), ErrorCategory::kNotFound);
  EXPECT_EQ(log_->read_entry_bundle({0, 0, 256}).error().category(), ErrorCategory::kNotFound);
  ASSERT_OK(log_->integrate());
  ASSERT_OK_AND_ASSIGN(Bytes full, log_->read_tile({0, 0, 256}));
  EXPECT_EQ(full.size(), 256u * 32);
  ASSERT_OK_AND_ASSIGN(Bytes partial, log_->read_tile({0, 1, 44}));
  EXPECT_EQ(partial.size(), 44u * 32);
  EXPECT_EQ(log_->read_tile({0, 1, 45}).error().category(), ErrorCategory::kNotFound);
  EXPECT_EQ(log_->read_tile({0, 1, 256}).error().category(), ErrorCategory::kNotFound);
  ASSERT_OK_AND_ASSIGN(Bytes level1, log_->read_tile({1, 0, 1}));
  ASSERT_OK_AND_ASSIGN(auto root256, tlog::tree_hash(reference_, 256));
  EXPECT_TRUE(std::equal(level1.begin(), level1.end(), root256.begin()));
  EXPECT_EQ(log_->read_tile({1, 0, 2}).error().category(), ErrorCategory::kNotFound);
  EXPECT_EQ(log_->read_tile({63, 0, 1}).error().category(), ErrorCategory::kNotFound);
  EXPECT_EQ(log_->read_tile({0, std::uint64_t{1} << 60, 1}).error().category(), ErrorCategory::kNotFound);

  ASSERT_OK_AND_ASSIGN(Bytes bundle, log_->read_entry_bundle({0, 1, 44}));
  ASSERT_OK_AND_ASSIGN(auto entries, tlog::decode_entry_bundle(bundle, 44));
  for (std::size_t i = 0; i < entries.size(); ++i) EXPECT_EQ(entries[i], entry_for(256 + i));
  EXPECT_EQ(log_->read_entry_bundle({0, 1, 45}).error().category(), ErrorCategory::kNotFound);
  EXPECT_EQ(log_->read_entry_bundle({1, 0, 1}).error().category(), ErrorCategory::kNotFound);
}

TEST_P(LogTest, SizeNeverShrinksAcrossRestarts) {
  open_log();
  append_range(0, 10);
  ASSERT_OK(log_->integrate());
  tlog::Checkpoint first = open_published();
  append_range(10, 30);  // appended, not integrated before the "exit"
  close();

  open_database();
  open_log();
  tlog::Checkpoint second = open_published();
  EXPECT_EQ(second.size, 30u);
  LogTileReader tiles(*log_);
  tlog::TileHashReader reader(tiles, second.size);
  ASSERT_OK_AND_ASSIGN(auto proof, tlog::consistency_proof(reader, first.size, second.size));
  EXPECT_TRUE(tlog::verify_consistency(first.size, second.size, first.root, second.root, proof).has_value());
  close();

  // A restart with nothing new keeps the very same checkpoint.
  open_database();
  open_log();
  EXPECT_EQ(open_published(), second);
  append_range(30, 31);
  ASSERT_OK_AND_ASSIGN(auto size, log_->integrate());
  EXPECT_EQ(size, 31u);
}

TEST_P(LogTest, RefusesToStartWithAnotherKey) {
  open_log();
  append_range(0, 3);
  ASSERT_OK(log_->integrate());
  log_.reset();
  auto other = tlog::Ed25519NoteSigner::generate(kOrigin);
  ASSERT_TRUE(other.has_value());
  EXPECT_FALSE(Log::open(*database_, std::move(*other)).has_value());
  auto renamed = tlog::Ed25519NoteSigner::generate("another/origin");
  ASSERT_TRUE(renamed.has_value());
  EXPECT_FALSE(Log::open(*database_, std::move(*renamed)).has_value());
}

TEST_P(LogTest, RefusesToStartOnDamagedTreeHashes) {
  open_log();
  append_range(0, 7);
  ASSERT_OK(log_->integrate());
  log_.reset();
  ASSERT_OK(database_->write([](store::Transaction& transaction) -> ErrorOr<void> {
    Bytes zero(32, 0);
    TRY(transaction.execute("UPDATE tlog_nodes SET hash = ? WHERE level = 2 AND idx = 0", {zero}));
    return {};
  }));
  auto reopened = Log::open(*database_, key());
  ASSERT_FALSE(reopened.has_value());
  EXPECT_EQ(reopened.error().category(), ErrorCategory::kCrypto);
}

TEST_P(LogTest, ConcurrentAsyncAppendsGetDistinctDenseIndices) {
  open_log();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  std::mutex mutex;
  std::set<std::uint64_t> indices;
  std::atomic<int> failures{0};
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        log_->append_async(to_bytes("async " + std::to_string(t) + "/" + std::to_string(i)),
                           [&](ErrorOr<std::uint64_t> index) {
                             if (!index) {
                               ++failures;
                             } else {
                               std::lock_guard lock(mutex);
                               indices.insert(*index);
                             }
                             ++done;
                           });
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (done < kThreads * kPerThread && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(done.load(), kThreads * kPerThread);
  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(indices.size(), std::size_t{kThreads * kPerThread});
  EXPECT_EQ(*indices.begin(), 0u);
  EXPECT_EQ(*indices.rbegin(), std::uint64_t{kThreads * kPerThread - 1});
  ASSERT_OK_AND_ASSIGN(auto size, log_->integrate_all());
  EXPECT_EQ(size, std::uint64_t{kThreads * kPerThread});
}

TEST_P(LogTest, BackgroundIntegratorPublishesWithinTheInterval) {
  LogConfig config;
  config.integrate_interval = std::chrono::milliseconds(20);
  ASSERT_OK_AND_ASSIGN(log_, Log::open(*database_, key(), config));
  log_->start();
  append_range(0, 3);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (log_->size() < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(log_->size(), 3u);
  log_->stop();
  append_range(3, 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(log_->size(), 3u);  // stopped means stopped
}

TEST_P(LogTest, SmallIntegrateBatchesStillReachTheEnd) {
  LogConfig config;
  config.max_integrate_batch = 7;
  ASSERT_OK_AND_ASSIGN(log_, Log::open(*database_, key(), config));
  append_range(0, 50);
  ASSERT_OK_AND_ASSIGN(auto size, log_->integrate());
  EXPECT_EQ(size, 7u);
  ASSERT_OK_AND_ASSIGN(size, log_->integrate_all());
  EXPECT_EQ(size, 50u);
  ASSERT_OK_AND_ASSIGN(auto root, tlog::tree_hash(reference_, 50));
  EXPECT_EQ(open_published().root, root);
}

PMOS_STORE_BACKENDS(LogTest);

}  // namespace
}  // namespace pmos::tlogd

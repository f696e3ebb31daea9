// Exhaustive proof tests: every tree size up to kMaxSize, every index and
// every pair of sizes, generated from stored hashes, verified, compared with
// the RFC's recursive definitions evaluated directly on the leaves, and
// tampered with.
#include "pmos/tlog/proof.h"

#include <bit>
#include <map>

#include <gtest/gtest.h>

#include "pmos/tlog/memory_hash_store.h"
#include "pmos/tlog/merkle.h"
#include "test_util.h"

namespace pmos::tlog {
namespace {

constexpr std::uint64_t kMaxSize = 300;

using Leaves = std::span<const Hash>;

std::uint64_t split_point(std::uint64_t n) { return std::bit_floor(n - 1); }

// MTH of a range of the test leaves, straight from the definition, memoised
// by (address, size) so that the exhaustive tests stay fast under ASan.
Hash mth(Leaves d) {
  static std::map<std::pair<const Hash*, std::size_t>, Hash> cache;
  auto [it, inserted] = cache.try_emplace({d.data(), d.size()});
  if (inserted) it->second = root_from_leaf_hashes(d);
  return it->second;
}

// RFC 9162 §2.1.3.1 PATH(m, D[n]), literally recursive, on the leaves.
std::vector<Hash> reference_path(std::uint64_t m, Leaves d) {
  if (d.size() == 1) return {};
  std::uint64_t k = split_point(d.size());
  std::vector<Hash> path;
  if (m < k) {
    path = reference_path(m, d.first(k));
    path.push_back(mth(d.subspan(k)));
  } else {
    path = reference_path(m - k, d.subspan(k));
    path.push_back(mth(d.first(k)));
  }
  return path;
}

// RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b).
std::vector<Hash> reference_subproof(std::uint64_t m, Leaves d, bool b) {
  if (m == d.size()) {
    if (b) return {};
    return {mth(d)};
  }
  std::uint64_t k = split_point(d.size());
  std::vector<Hash> proof;
  if (m <= k) {
    proof = reference_subproof(m, d.first(k), b);
    proof.push_back(mth(d.subspan(k)));
  } else {
    proof = reference_subproof(m - k, d.subspan(k), false);
    proof.push_back(mth(d.first(k)));
  }
  return proof;
}

// Counts the hashes proof generation reads.
class CountingReader final : public HashReader {
 public:
  explicit CountingReader(const HashReader& inner) : inner_(inner) {}
  ErrorOr<void> read_hashes(std::span<const NodeId> nodes, std::span<Hash> out) const override {
    reads_ += nodes.size();
    return inner_.read_hashes(nodes, out);
  }
  std::size_t reads() const { return reads_; }
  void reset() { reads_ = 0; }

 private:
  const HashReader& inner_;
  mutable std::size_t reads_ = 0;
};

class ProofTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    leaves_ = new std::vector<Hash>;
    store_ = new MemoryHashStore;
    for (std::uint64_t i = 0; i < kMaxSize; ++i) {
      leaves_->push_back(leaf_hash(testing::entry(i)));
      store_->append(leaves_->back());
    }
    roots_ = new std::vector<Hash>;
    for (std::uint64_t n = 0; n <= kMaxSize; ++n) {
      roots_->push_back(root_from_leaf_hashes(std::span(*leaves_).first(n)));
    }
  }
  static void TearDownTestSuite() {
    delete leaves_;
    delete store_;
    delete roots_;
  }
  static std::vector<Hash>* leaves_;
  static MemoryHashStore* store_;
  static std::vector<Hash>* roots_;
};
std::vector<Hash>* ProofTest::leaves_ = nullptr;
MemoryHashStore* ProofTest::store_ = nullptr;
std::vector<Hash>* ProofTest::roots_ = nullptr;

Hash flipped(Hash h, std::size_t bit) {
  h[bit / 8 % h.size()] ^= static_cast<std::uint8_t>(1u << (bit % 8));
  return h;
}

TEST_F(ProofTest, TreeHashOfEverySizeMatchesDirectRecomputation) {
  for (std::uint64_t n = 0; n <= kMaxSize; ++n) {
    EXPECT_EQ(tree_hash(*store_, n).value(), (*roots_)[n]) << n;
  }
  EXPECT_EQ(tree_hash(*store_, kMaxSize + 1).error().category(), ErrorCategory::kNotFound);
}

TEST_F(ProofTest, InclusionEverySizeEveryIndex) {
  CountingReader counting(*store_);
  std::size_t checked = 0;
  for (std::uint64_t n = 1; n <= kMaxSize; ++n) {
    const Hash& root = (*roots_)[n];
    Leaves tree = std::span(*leaves_).first(n);
    for (std::uint64_t m = 0; m < n; ++m) {
      counting.reset();
      auto generated = inclusion_proof(counting, m, n);
      ASSERT_TRUE(generated) << n << " " << m;
      const std::vector<Hash>& proof = *generated;
      // O(log n) stored hashes, never the tree.
      EXPECT_LE(counting.reads(), 2u * std::bit_width(n)) << n << " " << m;
      ASSERT_EQ(proof, reference_path(m, tree)) << n << " " << m;
      const Hash& leaf = (*leaves_)[m];
      ASSERT_TRUE(verify_inclusion(m, n, leaf, proof, root)) << n << " " << m;
      ++checked;

      // Every single-bit change of every element is refused.
      for (std::size_t e = 0; e < proof.size(); ++e) {
        std::vector<Hash> bad = proof;
        bad[e] = flipped(bad[e], (e * 37 + m) % 256);
        EXPECT_FALSE(verify_inclusion(m, n, leaf, bad, root)) << n << " " << m << " element " << e;
      }
      EXPECT_FALSE(verify_inclusion(m, n, flipped(leaf, m % 256), proof, root));
      EXPECT_FALSE(verify_inclusion(m, n, leaf, proof, flipped(root, 3)));
      // Wrong index, wrong size.
      if (m + 1 < n) {
        EXPECT_FALSE(verify_inclusion(m + 1, n, leaf, proof, root)) << n << " " << m;
      }
      if (m > 0) {
        EXPECT_FALSE(verify_inclusion(m - 1, n, leaf, proof, root)) << n << " " << m;
      }
      // With the root of the claimed size: a verifier trusts (size, root)
      // pairs from a checkpoint, so only both together can lie consistently.
      if (n < kMaxSize) {
        EXPECT_FALSE(verify_inclusion(m, n + 1, leaf, proof, (*roots_)[n + 1])) << n << " " << m;
      }
      if (m < n - 1) {
        EXPECT_FALSE(verify_inclusion(m, n - 1, leaf, proof, (*roots_)[n - 1])) << n << " " << m;
      }
      // An extra element, a missing element.
      std::vector<Hash> longer = proof;
      longer.push_back(root);
      EXPECT_FALSE(verify_inclusion(m, n, leaf, longer, root)) << n << " " << m;
      if (!proof.empty()) {
        std::vector<Hash> shorter(proof.begin(), proof.end() - 1);
        EXPECT_FALSE(verify_inclusion(m, n, leaf, shorter, root)) << n << " " << m;
        std::vector<Hash> no_first(proof.begin() + 1, proof.end());
        EXPECT_FALSE(verify_inclusion(m, n, leaf, no_first, root)) << n << " " << m;
      }
    }
  }
  EXPECT_EQ(checked, kMaxSize * (kMaxSize + 1) / 2);
}

TEST_F(ProofTest, ConsistencyEveryPairOfSizes) {
  CountingReader counting(*store_);
  for (std::uint64_t n = 1; n <= kMaxSize; ++n) {
    Leaves tree = std::span(*leaves_).first(n);
    const Hash& new_root = (*roots_)[n];
    for (std::uint64_t m = 0; m <= n; ++m) {
      const Hash& old_root = (*roots_)[m];
      counting.reset();
      auto generated = consistency_proof(counting, m, n);
      ASSERT_TRUE(generated) << m << " " << n;
      const std::vector<Hash>& proof = *generated;
      EXPECT_LE(counting.reads(), 2u * std::bit_width(n)) << m << " " << n;
      if (m == 0 || m == n) {
        EXPECT_TRUE(proof.empty());
      } else {
        ASSERT_EQ(proof, reference_subproof(m, tree, true)) << m << " " << n;
      }
      ASSERT_TRUE(verify_consistency(m, n, old_root, new_root, proof)) << m << " " << n;
      if (m == 0) continue;  // nothing to tamper with: every tree extends the empty one

      for (std::size_t e = 0; e < proof.size(); ++e) {
        std::vector<Hash> bad = proof;
        bad[e] = flipped(bad[e], (e * 29 + m) % 256);
        EXPECT_FALSE(verify_consistency(m, n, old_root, new_root, bad)) << m << " " << n << " element " << e;
      }
      EXPECT_FALSE(verify_consistency(m, n, flipped(old_root, 1), new_root, proof)) << m << " " << n;
      EXPECT_FALSE(verify_consistency(m, n, old_root, flipped(new_root, 2), proof)) << m << " " << n;
      // Wrong sizes (with the roots of those sizes, so only the sizes lie).
      if (m + 1 < n) {
        EXPECT_FALSE(verify_consistency(m + 1, n, (*roots_)[m + 1], new_root, proof)) << m << " " << n;
      }
      if (m > 1) {
        EXPECT_FALSE(verify_consistency(m - 1, n, (*roots_)[m - 1], new_root, proof)) << m << " " << n;
      }
      if (n < kMaxSize) {
        EXPECT_FALSE(verify_consistency(m, n + 1, old_root, (*roots_)[n + 1], proof)) << m << " " << n;
      }
      std::vector<Hash> longer = proof;
      longer.push_back(new_root);
      EXPECT_FALSE(verify_consistency(m, n, old_root, new_root, longer)) << m << " " << n;
      if (!proof.empty()) {
        std::vector<Hash> shorter(proof.begin(), proof.end() - 1);
        EXPECT_FALSE(verify_consistency(m, n, old_root, new_root, shorter)) << m << " " << n;
      }
    }
  }
}

TEST_F(ProofTest, ProofsBeyondTheStoreAreNotFound) {
  EXPECT_EQ(inclusion_proof(*store_, 5, kMaxSize + 1).error().category(), ErrorCategory::kNotFound);
  EXPECT_EQ(consistency_proof(*store_, 5, kMaxSize + 7).error().category(), ErrorCategory::kNotFound);
  EXPECT_EQ(inclusion_proof(*store_, 9, 9).error().category(), ErrorCategory::kInvalidArgument);
  EXPECT_EQ(consistency_proof(*store_, 10, 9).error().category(), ErrorCategory::kInvalidArgument);
}

// A store as a persistent log keeps it: a map from node to hash, filled
// only through integrate().
class MapStore final : public HashReader {
 public:
  ErrorOr<void> read_hashes(std::span<const NodeId> nodes, std::span<Hash> out) const override {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      auto it = hashes_.find({nodes[i].level, nodes[i].index});
      if (it == hashes_.end()) return Error::not_found("map store: no such node");
      out[i] = it->second;
    }
    return {};
  }
  void write(const std::vector<StoredNode>& nodes) {
    for (const StoredNode& n : nodes) {
      EXPECT_TRUE(hashes_.emplace(std::pair{n.node.level, n.node.index}, n.hash).second) << "node written twice";
    }
  }
  std::size_t size() const { return hashes_.size(); }

 private:
  std::map<std::pair<std::uint8_t, std::uint64_t>, Hash> hashes_;
};

TEST_F(ProofTest, IntegrateInBatchesBuildsTheSameStore) {
  for (std::uint64_t batch : {1, 2, 3, 7, 64, 100, 300}) {
    MapStore store;
    CountingReader counting(store);
    for (std::uint64_t size = 0; size < kMaxSize;) {
      std::uint64_t count = std::min(batch, kMaxSize - size);
      counting.reset();
      auto nodes = integrate(counting, size, std::span(*leaves_).subspan(size, count));
      ASSERT_TRUE(nodes) << batch << " " << size;
      EXPECT_LE(counting.reads(), 64u);
      store.write(*nodes);
      size += count;
      ASSERT_EQ(tree_hash(store, size).value(), (*roots_)[size]) << batch << " " << size;
    }
    // Exactly the complete subtrees: sum over levels of kMaxSize >> level.
    std::size_t want = 0;
    for (std::uint64_t n = kMaxSize; n > 0; n >>= 1) want += n;
    EXPECT_EQ(store.size(), want);
    EXPECT_EQ(inclusion_proof(store, 123, kMaxSize).value(), inclusion_proof(*store_, 123, kMaxSize).value());
  }
  // Integrating onto a store that lacks the old tree's border fails.
  MapStore empty;
  EXPECT_EQ(integrate(empty, 5, std::span(*leaves_).first(1)).error().category(), ErrorCategory::kNotFound);
}

TEST(ProofPlan, HugeTreesNeedFewNodes) {
  // Plans depend on sizes only, so trees far beyond memory can be planned:
  // the node count stays logarithmic.
  const std::uint64_t size = (std::uint64_t{1} << 63) + 123456789;
  ProofPlan inclusion = plan_inclusion_proof(size - 2, size).value();
  EXPECT_LE(inclusion.nodes.size(), 128u);
  ProofPlan leftmost = plan_inclusion_proof(0, size).value();
  EXPECT_EQ(leftmost.starts.size(), 64u);  // one element per level below the root
  EXPECT_LE(leftmost.nodes.size(), 128u);
  ProofPlan consistency = plan_consistency_proof(size / 3, size).value();
  EXPECT_LE(consistency.nodes.size(), 128u);
  ProofPlan root = plan_tree_hash(~std::uint64_t{0});
  EXPECT_EQ(root.nodes.size(), 64u);  // one complete subtree per set bit
  EXPECT_EQ(root.starts.size(), 1u);
}

}  // namespace
}  // namespace pmos::tlog

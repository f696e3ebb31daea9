// Known answers and tamper checks for Merkle hashing and proof verification.
#include "pmos/tlog/merkle.h"

#include <gtest/gtest.h>

#include "pmos/tlog/memory_hash_store.h"
#include "pmos/tlog/proof.h"
#include "test_util.h"

namespace pmos::tlog {
namespace {

using testing::hash_from_hex;

// The RFC 6962 reference tree: leaf inputs, roots of every prefix and the
// interior node hashes, as published with the Certificate Transparency
// reference implementation and kept in transparency-dev/merkle
// testonly/constants.go (LeafInputs, RootHashes, NodeHashes).
const char* const kLeafInputs[] = {"",         "00",       "10",       "2021",
                                   "3031",     "40414243", "5051525354555657",
                                   "606162636465666768696a6b6c6d6e6f"};
const char* const kRoots[] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};
const char* const kLeafHashes[] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
};
// NodeHashes()[1] and [2]: level-1 and level-2 subtrees.
const char* const kLevel1[] = {
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
};
const char* const kLevel2[] = {
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
};

std::vector<Hash> reference_leaf_hashes() {
  std::vector<Hash> leaves;
  for (const char* input : kLeafInputs) leaves.push_back(leaf_hash(from_hex(input).value()));
  return leaves;
}

TEST(Merkle, EmptyTreeIsSha256OfNothing) {
  // RFC 6962 §2.1: MTH({}) = SHA-256(), the well-known e3b0c442... digest.
  EXPECT_EQ(empty_tree_hash(), hash_from_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  EXPECT_EQ(root_from_leaf_hashes({}), empty_tree_hash());
  MemoryHashStore store;
  EXPECT_EQ(tree_hash(store, 0).value(), empty_tree_hash());
}

TEST(Merkle, ReferenceLeafHashesAndRoots) {
  std::vector<Hash> leaves = reference_leaf_hashes();
  MemoryHashStore store;
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    EXPECT_EQ(leaves[i], hash_from_hex(kLeafHashes[i])) << i;
    store.append(leaves[i]);
    Hash want = hash_from_hex(kRoots[i]);
    EXPECT_EQ(root_from_leaf_hashes(std::span(leaves).first(i + 1)), want) << "size " << i + 1;
    EXPECT_EQ(tree_hash(store, i + 1).value(), want) << "size " << i + 1;
  }
  for (std::uint64_t i = 0; i < 4; ++i) {
    Hash h;
    ASSERT_TRUE(store.read_hashes(std::array{NodeId{1, i}}, std::span(&h, 1)));
    EXPECT_EQ(h, hash_from_hex(kLevel1[i]));
  }
  for (std::uint64_t i = 0; i < 2; ++i) {
    Hash h;
    ASSERT_TRUE(store.read_hashes(std::array{NodeId{2, i}}, std::span(&h, 1)));
    EXPECT_EQ(h, hash_from_hex(kLevel2[i]));
  }
}

TEST(Merkle, ReferenceInclusionProof) {
  // Leaf 5 of 8: its sibling leaf 4, then subtrees [6,8) and [0,4), each
  // read off the reference node hashes above.
  std::vector<Hash> leaves = reference_leaf_hashes();
  std::vector<Hash> proof = {hash_from_hex(kLeafHashes[4]), hash_from_hex(kLevel1[3]), hash_from_hex(kLevel2[0])};
  Hash root = hash_from_hex(kRoots[7]);
  EXPECT_TRUE(verify_inclusion(5, 8, leaves[5], proof, root));
  EXPECT_FALSE(verify_inclusion(4, 8, leaves[5], proof, root));
  MemoryHashStore store;
  for (const Hash& leaf : leaves) store.append(leaf);
  EXPECT_EQ(inclusion_proof(store, 5, 8).value(), proof);
  // Leaf 2 of 3: one element, the root of the first two leaves.
  std::vector<Hash> short_proof = {hash_from_hex(kRoots[1])};
  EXPECT_TRUE(verify_inclusion(2, 3, leaves[2], short_proof, hash_from_hex(kRoots[2])));
  EXPECT_EQ(inclusion_proof(store, 2, 3).value(), short_proof);
}

TEST(Merkle, ReferenceConsistencyProofs) {
  MemoryHashStore store;
  for (const Hash& leaf : reference_leaf_hashes()) store.append(leaf);
  // 6 -> 8: [4,6), [6,8), [0,4).
  std::vector<Hash> proof = {hash_from_hex(kLevel1[2]), hash_from_hex(kLevel1[3]), hash_from_hex(kLevel2[0])};
  EXPECT_TRUE(verify_consistency(6, 8, hash_from_hex(kRoots[5]), hash_from_hex(kRoots[7]), proof));
  EXPECT_FALSE(verify_consistency(6, 8, hash_from_hex(kRoots[4]), hash_from_hex(kRoots[7]), proof));
  EXPECT_EQ(consistency_proof(store, 6, 8).value(), proof);
  // 2 -> 5: the old tree is a complete subtree, so it is not repeated.
  std::vector<Hash> proof2 = {hash_from_hex(kLevel1[1]), hash_from_hex(kLeafHashes[4])};
  EXPECT_TRUE(verify_consistency(2, 5, hash_from_hex(kRoots[1]), hash_from_hex(kRoots[4]), proof2));
  EXPECT_EQ(consistency_proof(store, 2, 5).value(), proof2);
}

TEST(Merkle, TrivialConsistency) {
  Hash a = leaf_hash(to_bytes("a"));
  Hash b = leaf_hash(to_bytes("b"));
  EXPECT_TRUE(verify_consistency(0, 5, a, b, {}));
  EXPECT_TRUE(verify_consistency(5, 5, a, a, {}));
  auto unequal = verify_consistency(5, 5, a, b, {});
  ASSERT_FALSE(unequal);
  EXPECT_STREQ(unequal.error().message(), "consistency proof: equal sizes with different roots");
  EXPECT_FALSE(verify_consistency(0, 5, a, b, std::vector<Hash>{a}));
  EXPECT_FALSE(verify_consistency(5, 5, a, a, std::vector<Hash>{a}));
  EXPECT_EQ(verify_consistency(6, 5, a, b, {}).error().category(), ErrorCategory::kInvalidArgument);
  EXPECT_STREQ(verify_consistency(3, 5, a, b, {}).error().message(), "consistency proof: empty");
}

TEST(Merkle, InclusionShapeErrorsAreDistinct) {
  Hash a = leaf_hash(to_bytes("a"));
  EXPECT_STREQ(verify_inclusion(3, 3, a, {}, a).error().message(),
               "inclusion proof: index is not below the tree size");
  EXPECT_STREQ(verify_inclusion(0, 4, a, std::vector<Hash>{a}, a).error().message(), "inclusion proof: too few hashes");
  EXPECT_STREQ(verify_inclusion(0, 2, a, std::vector<Hash>{a, a}, a).error().message(), "inclusion proof: too many hashes");
  EXPECT_STREQ(verify_inclusion(0, 2, a, std::vector<Hash>{a}, a).error().message(),
               "inclusion proof: computed root does not match");
  // A tree of one leaf: the leaf is the root, the proof is empty.
  EXPECT_TRUE(verify_inclusion(0, 1, a, {}, a));
  std::vector<Hash> huge(kMaxProofHashes + 1, a);
  EXPECT_FALSE(verify_inclusion(0, ~std::uint64_t{0}, a, huge, a));
}

}  // namespace
}  // namespace pmos::tlog

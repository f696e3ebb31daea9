// RFC 9420 Appendix C tree math against the IETF interop vectors
// (mls/tree-math.json): every node of every tree size in the file.
#include <gtest/gtest.h>

#include <optional>

#include "pmos/mls/tree_math.h"
#include "pmos/testing/vectors.h"

namespace pmos::mls {
namespace {

std::optional<NodeIndex> expected_node(const nlohmann::json& value) {
  if (value.is_null()) return std::nullopt;
  return NodeIndex(value.get<std::uint32_t>());
}

TEST(TreeMathVectors, EveryNodeOfEveryTree) {
  PMOS_LOAD_VECTORS(vectors, "mls/tree-math.json");
  int trees = 0;
  int nodes_checked = 0;
  for (const auto& v : vectors) {
    LeafCount n(v.at("n_leaves").get<std::uint32_t>());
    EXPECT_EQ(node_width(n), v.at("n_nodes").get<std::uint64_t>());
    EXPECT_EQ(root(n), NodeIndex(v.at("root").get<std::uint32_t>()));
    const auto& lefts = v.at("left");
    const auto& rights = v.at("right");
    const auto& parents = v.at("parent");
    const auto& siblings = v.at("sibling");
    ASSERT_EQ(lefts.size(), node_width(n));
    ASSERT_EQ(rights.size(), lefts.size());
    ASSERT_EQ(parents.size(), lefts.size());
    ASSERT_EQ(siblings.size(), lefts.size());
    for (std::uint32_t i = 0; i < lefts.size(); ++i) {
      NodeIndex x(i);
      EXPECT_EQ(left(x), expected_node(lefts[i])) << "n=" << n.value << " x=" << i;
      EXPECT_EQ(right(x), expected_node(rights[i])) << "n=" << n.value << " x=" << i;
      EXPECT_EQ(parent(x, n), expected_node(parents[i])) << "n=" << n.value << " x=" << i;
      EXPECT_EQ(sibling(x, n), expected_node(siblings[i])) << "n=" << n.value << " x=" << i;
      ++nodes_checked;
    }
    ++trees;
  }
  std::cout << "tree-math.json: " << trees << " trees, " << nodes_checked << " nodes checked\n";
  RecordProperty("vectors_checked", trees);
  ASSERT_GT(trees, 0);
  ASSERT_GT(nodes_checked, 0);
}

}  // namespace
}  // namespace pmos::mls

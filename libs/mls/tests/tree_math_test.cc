// Tree math beyond the interop vectors: direct path, copath and common
// ancestor, checked against their definitions (RFC 9420 §4.1, Appendix C).
#include "pmos/mls/tree_math.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace pmos::mls {
namespace {

TEST(TreeMath, LeafAndNodeIndices) {
  EXPECT_EQ(to_node(LeafIndex(0)), NodeIndex(0));
  EXPECT_EQ(to_node(LeafIndex(5)), NodeIndex(10));
  EXPECT_EQ(to_leaf(NodeIndex(10)), LeafIndex(5));
  EXPECT_EQ(to_leaf(NodeIndex(7)), std::nullopt);
  EXPECT_TRUE(is_leaf(NodeIndex(4)));
  EXPECT_FALSE(is_leaf(NodeIndex(3)));
}

TEST(TreeMath, LevelsAndWidths) {
  EXPECT_EQ(level(NodeIndex(0)), 0u);
  EXPECT_EQ(level(NodeIndex(1)), 1u);
  EXPECT_EQ(level(NodeIndex(3)), 2u);
  EXPECT_EQ(level(NodeIndex(7)), 3u);
  EXPECT_EQ(level(NodeIndex(11)), 2u);
  EXPECT_EQ(level(NodeIndex(0xffffffff)), 32u);  // no shift past the width
  EXPECT_EQ(node_width(LeafCount(0)), 0u);
  EXPECT_EQ(node_width(LeafCount(1)), 1u);
  EXPECT_EQ(node_width(LeafCount(8)), 15u);
  EXPECT_EQ(node_width(LeafCount(0xffffffff)), 0x1fffffffdull);
  EXPECT_EQ(root(LeafCount(1)), NodeIndex(0));
  EXPECT_EQ(root(LeafCount(8)), NodeIndex(7));
  EXPECT_EQ(root(LeafCount(0x80000000)), NodeIndex(0x7fffffff));
}

TEST(TreeMath, EightLeafTreeOfTheRfc) {
  // Appendix C's figure: leaf 2 is node 4.
  LeafCount n(8);
  NodeIndex x = to_node(LeafIndex(2));
  EXPECT_EQ(direct_path(x, n), (std::vector<NodeIndex>{NodeIndex(5), NodeIndex(3), NodeIndex(7)}));
  EXPECT_EQ(copath(x, n), (std::vector<NodeIndex>{NodeIndex(6), NodeIndex(1), NodeIndex(11)}));
  EXPECT_TRUE(direct_path(root(n), n).empty());
  EXPECT_TRUE(copath(root(n), n).empty());
  EXPECT_EQ(common_ancestor(NodeIndex(4), NodeIndex(6)), NodeIndex(5));
  EXPECT_EQ(common_ancestor(NodeIndex(0), NodeIndex(14)), NodeIndex(7));
  EXPECT_EQ(common_ancestor(NodeIndex(8), NodeIndex(12)), NodeIndex(11));
  EXPECT_EQ(common_ancestor(NodeIndex(9), NodeIndex(11)), NodeIndex(11));
  EXPECT_EQ(common_ancestor(NodeIndex(3), NodeIndex(3)), NodeIndex(3));
}

TEST(TreeMath, NodesOutsideTheTreeHaveNoRelatives) {
  LeafCount n(4);
  EXPECT_EQ(parent(NodeIndex(7), n), std::nullopt);
  EXPECT_EQ(sibling(NodeIndex(9), n), std::nullopt);
  EXPECT_TRUE(direct_path(NodeIndex(100), n).empty());
  EXPECT_EQ(parent(NodeIndex(0), LeafCount(0)), std::nullopt);
  EXPECT_EQ(left(NodeIndex(2)), std::nullopt);
  EXPECT_EQ(right(NodeIndex(2)), std::nullopt);
}

// The definitions, evaluated the slow way on every node pair of trees up to
// 64 leaves.
TEST(TreeMath, PathsAndAncestorsMatchTheirDefinitions) {
  int pairs = 0;
  for (std::uint32_t leaves = 1; leaves <= 64; leaves *= 2) {
    LeafCount n(leaves);
    auto width = static_cast<std::uint32_t>(node_width(n));
    for (std::uint32_t i = 0; i < width; ++i) {
      NodeIndex x(i);
      std::vector<NodeIndex> path = direct_path(x, n);
      std::vector<NodeIndex> co = copath(x, n);
      ASSERT_EQ(path.size(), co.size());
      NodeIndex below = x;
      for (std::size_t k = 0; k < path.size(); ++k) {
        EXPECT_EQ(parent(below, n), path[k]);
        EXPECT_EQ(sibling(below, n), co[k]);
        EXPECT_EQ(level(path[k]), level(below) + 1);
        below = path[k];
      }
      if (x != root(n)) {
        EXPECT_EQ(path.back(), root(n));
      }

      for (std::uint32_t j = 0; j < width; ++j) {
        NodeIndex y(j);
        std::set<NodeIndex> ax{x}, ay{y};
        for (NodeIndex p : direct_path(x, n)) ax.insert(p);
        for (NodeIndex p : direct_path(y, n)) ay.insert(p);
        std::vector<NodeIndex> both;
        std::set_intersection(ax.begin(), ax.end(), ay.begin(), ay.end(), std::back_inserter(both));
        ASSERT_FALSE(both.empty());
        NodeIndex lowest = *std::min_element(both.begin(), both.end(),
                                             [](NodeIndex a, NodeIndex b) { return level(a) < level(b); });
        EXPECT_EQ(common_ancestor(x, y), lowest) << "x=" << i << " y=" << j << " n=" << leaves;
        ++pairs;
      }
    }
  }
  EXPECT_GT(pairs, 0);
}

}  // namespace
}  // namespace pmos::mls

#include "pmos/mls/tree_math.h"

namespace pmos::mls {

namespace {

// floor(log2(x)) for x > 0, and 0 for x == 0 (Appendix C's log2).
std::uint32_t log2_floor(std::uint64_t x) {
  std::uint32_t k = 0;
  while ((x >> k) > 1) ++k;
  return k;
}

}  // namespace

std::optional<LeafIndex> to_leaf(NodeIndex node) {
  if (!is_leaf(node)) return std::nullopt;
  return LeafIndex(node.value / 2);
}

std::uint32_t level(NodeIndex node) {
  std::uint32_t k = 0;
  while (k < 32 && ((node.value >> k) & 1u) == 1u) ++k;
  return k;
}

std::uint64_t node_width(LeafCount leaves) {
  return leaves.value == 0 ? 0 : 2 * (std::uint64_t{leaves.value} - 1) + 1;
}

NodeIndex root(LeafCount leaves) {
  // At most 2^32 - 1 even for 2^32 - 1 leaves, so the narrowing is exact.
  return NodeIndex(static_cast<std::uint32_t>((std::uint64_t{1} << log2_floor(node_width(leaves))) - 1));
}

std::optional<NodeIndex> left(NodeIndex node) {
  std::uint32_t k = level(node);
  if (k == 0) return std::nullopt;
  return NodeIndex(node.value ^ (std::uint32_t{1} << (k - 1)));
}

std::optional<NodeIndex> right(NodeIndex node) {
  std::uint32_t k = level(node);
  if (k == 0) return std::nullopt;
  return NodeIndex(node.value ^ (std::uint32_t{3} << (k - 1)));
}

std::optional<NodeIndex> parent(NodeIndex node, LeafCount leaves) {
  if (node.value >= node_width(leaves) || node == root(leaves)) return std::nullopt;
  std::uint32_t k = level(node);
  std::uint32_t b = (node.value >> (k + 1)) & 1u;
  return NodeIndex((node.value | (std::uint32_t{1} << k)) ^ (b << (k + 1)));
}

std::optional<NodeIndex> sibling(NodeIndex node, LeafCount leaves) {
  std::optional<NodeIndex> p = parent(node, leaves);
  if (!p) return std::nullopt;
  return node < *p ? right(*p) : left(*p);
}

std::vector<NodeIndex> direct_path(NodeIndex node, LeafCount leaves) {
  std::vector<NodeIndex> path;
  for (auto p = parent(node, leaves); p; p = parent(*p, leaves)) path.push_back(*p);
  return path;
}

std::vector<NodeIndex> copath(NodeIndex node, LeafCount leaves) {
  std::vector<NodeIndex> result;
  // Every node below the root on the way up contributes its sibling.
  for (auto s = sibling(node, leaves), p = parent(node, leaves); s && p;
       s = sibling(*p, leaves), p = parent(*p, leaves)) {
    result.push_back(*s);
  }
  return result;
}

NodeIndex common_ancestor(NodeIndex a, NodeIndex b) {
  // One is an ancestor of the other (or they are equal): a node at level k
  // covers exactly the indices that agree with it above bit k.
  std::uint32_t la = level(a) + 1;
  std::uint32_t lb = level(b) + 1;
  auto high_bits_equal = [](std::uint32_t x, std::uint32_t y, std::uint32_t shift) {
    return shift >= 32 ? true : (x >> shift) == (y >> shift);
  };
  if (la <= lb && high_bits_equal(a.value, b.value, lb)) return b;
  if (lb <= la && high_bits_equal(a.value, b.value, la)) return a;
  // Otherwise strip low bits until the prefixes agree; the ancestor is that
  // prefix followed by 0 and then ones (the in-order middle of the subtree).
  std::uint32_t x = a.value;
  std::uint32_t y = b.value;
  std::uint32_t k = 0;
  while (x != y) {
    x >>= 1;
    y >>= 1;
    ++k;
  }
  return NodeIndex((x << k) + (std::uint32_t{1} << (k - 1)) - 1);
}

}  // namespace pmos::mls

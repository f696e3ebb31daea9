#pragma once

// Index arithmetic on the array representation of a ratchet tree (RFC 9420
// §4.1, Appendix C). Leaves sit at even node indices (leaf i at node 2i),
// parents at odd ones; a tree of n leaves has 2n - 1 nodes. RFC 9420 trees
// are always full (n is a power of two, §7.7), and the functions below are
// exact for those; for other n they follow Appendix C.
//
// Leaf and node indices are distinct types so that one is never passed where
// the other is meant: confusing them would address the wrong member's keys.
// Everything here is a pure function of its arguments, so thread-safe.

#include <compare>
#include <cstdint>
#include <optional>
#include <tuple>
#include <vector>

namespace pmos::mls {

// The position of a member among the leaves: the `leaf_index` of Sender,
// SenderData, Remove.removed, GroupInfo.signer, ParentNode.unmerged_leaves.
// On the wire it is a uint32.
struct LeafIndex {
  std::uint32_t value = 0;

  constexpr LeafIndex() = default;
  constexpr explicit LeafIndex(std::uint32_t v) : value(v) {}

  static auto tls_fields(auto& self) { return std::tie(self.value); }
  friend constexpr auto operator<=>(const LeafIndex&, const LeafIndex&) = default;
};

// The position of a node in the array representation. Never on the wire.
struct NodeIndex {
  std::uint32_t value = 0;

  constexpr NodeIndex() = default;
  constexpr explicit NodeIndex(std::uint32_t v) : value(v) {}

  friend constexpr auto operator<=>(const NodeIndex&, const NodeIndex&) = default;
};

// The number of leaves of a tree.
struct LeafCount {
  std::uint32_t value = 0;

  constexpr LeafCount() = default;
  constexpr explicit LeafCount(std::uint32_t v) : value(v) {}

  friend constexpr auto operator<=>(const LeafCount&, const LeafCount&) = default;
};

// Leaf i is node 2i.
constexpr NodeIndex to_node(LeafIndex leaf) { return NodeIndex(2 * leaf.value); }
constexpr bool is_leaf(NodeIndex node) { return node.value % 2 == 0; }
// The leaf at `node`, or nullopt for a parent node.
std::optional<LeafIndex> to_leaf(NodeIndex node);

// Leaves are level 0; a parent is one above its highest child.
std::uint32_t level(NodeIndex node);

// The number of nodes of a tree with `leaves` leaves: 2n - 1 (0 for none).
// 64-bit because 2^32 - 1 leaves need more than 2^32 nodes.
std::uint64_t node_width(LeafCount leaves);

// The root of a tree with `leaves` leaves (at least one).
NodeIndex root(LeafCount leaves);

// Children of a parent node; nullopt for a leaf, which has none.
std::optional<NodeIndex> left(NodeIndex node);
std::optional<NodeIndex> right(NodeIndex node);

// The parent of `node` in a tree of `leaves` leaves; nullopt for the root
// and for nodes outside the tree.
std::optional<NodeIndex> parent(NodeIndex node, LeafCount leaves);

// The other child of the parent of `node`; nullopt where parent() is.
std::optional<NodeIndex> sibling(NodeIndex node, LeafCount leaves);

// The parents of `node` from its own parent up to the root (empty for the
// root and for nodes outside the tree).
std::vector<NodeIndex> direct_path(NodeIndex node, LeafCount leaves);

// The siblings of `node` and of each node of its direct path except the
// root, from the bottom up; as long as direct_path().
std::vector<NodeIndex> copath(NodeIndex node, LeafCount leaves);

// The lowest node that is `a`, `b` or an ancestor of both.
NodeIndex common_ancestor(NodeIndex a, NodeIndex b);

}  // namespace pmos::mls

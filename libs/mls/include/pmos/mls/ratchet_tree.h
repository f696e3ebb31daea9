#pragma once

// The public ratchet tree as it travels in the ratchet_tree extension
// (RFC 9420 §7.1, §12.4.3.3). Plain data, copyable, not synchronised.

#include <compare>
#include <optional>
#include <tuple>
#include <variant>
#include <vector>

#include "pmos/base/codec.h"
#include "pmos/mls/leaf_node.h"
#include "pmos/mls/tree_math.h"
#include "pmos/mls/types.h"

namespace pmos::mls {

// An interior node: a key shared by the leaves below it.
struct ParentNode {
  HpkePublicKey encryption_key;
  Bytes parent_hash;                       // opaque<V>
  std::vector<LeafIndex> unmerged_leaves;  // uint32 unmerged_leaves<V>

  static auto tls_fields(auto& self) {
    return std::tie(self.encryption_key, self.parent_hash, self.unmerged_leaves);
  }
  friend bool operator==(const ParentNode&, const ParentNode&) = default;
};

// `struct { NodeType node_type; select (node_type) {...} } Node`: the
// alternative held is the node type.
struct Node {
  std::variant<LeafNode, ParentNode> value;

  NodeType node_type() const { return value.index() == 0 ? NodeType::kLeaf : NodeType::kParent; }

  void tls_encode(tls::Writer& w) const;
  static ErrorOr<Node> tls_decode(tls::Reader& r);
  friend bool operator==(const Node&, const Node&) = default;
};

// `optional<Node> ratchet_tree<V>`: the nodes in array order (Appendix C),
// nullopt for blank nodes, without trailing blanks.
//
// Decoding enforces what §12.4.3.3 makes the receiver check about the shape
// before anything else looks at the tree: it is not empty, its last node is
// not blank (the sender MUST drop trailing blanks, so two encodings of one
// tree cannot exist), and a node's type matches its position (leaves at even
// indices, parents at odd). A mismatch would make later code treat a
// ParentNode as a member, or the reverse.
struct RatchetTree {
  std::vector<std::optional<Node>> nodes;

  void tls_encode(tls::Writer& w) const;
  static ErrorOr<RatchetTree> tls_decode(tls::Reader& r);
  friend bool operator==(const RatchetTree&, const RatchetTree&) = default;
};

}  // namespace pmos::mls

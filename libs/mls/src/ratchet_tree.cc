#include "pmos/mls/ratchet_tree.h"

#include "select.h"

namespace pmos::mls {

namespace {
constexpr std::array kNodeTags = {NodeType::kLeaf, NodeType::kParent};
}  // namespace

void Node::tls_encode(tls::Writer& w) const { detail::write_select(w, kNodeTags, value); }

ErrorOr<Node> Node::tls_decode(tls::Reader& r) {
  Node node;
  TRY(detail::read_select(r, kNodeTags, Error::decode("unknown node type"), node.value));
  return node;
}

void RatchetTree::tls_encode(tls::Writer& w) const { tls::write(w, nodes); }

ErrorOr<RatchetTree> RatchetTree::tls_decode(tls::Reader& r) {
  RatchetTree tree;
  TRY(tls::read(r, tree.nodes));
  if (tree.nodes.empty()) return Error::decode("ratchet tree has no nodes");
  if (!tree.nodes.back().has_value()) return Error::decode("ratchet tree ends with a blank node");
  for (std::size_t i = 0; i < tree.nodes.size(); ++i) {
    const std::optional<Node>& node = tree.nodes[i];
    if (!node) continue;
    bool leaf_position = i % 2 == 0;
    if (leaf_position != (node->node_type() == NodeType::kLeaf)) {
      return Error::decode("ratchet tree node type does not match its position");
    }
  }
  return tree;
}

}  // namespace pmos::mls

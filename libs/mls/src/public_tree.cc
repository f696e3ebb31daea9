#include "pmos/mls/public_tree.h"

#include <algorithm>

#include "pmos/base/check.h"
#include "pmos/base/codec.h"

namespace pmos::mls {

namespace {

// Whether `node` lies in the subtree rooted at `ancestor` (itself included).
bool in_subtree(NodeIndex node, NodeIndex ancestor) {
  std::uint64_t half = (std::uint64_t{1} << level(ancestor)) - 1;
  return std::uint64_t{node.value} + half >= ancestor.value &&
         node.value <= std::uint64_t{ancestor.value} + half;
}

std::uint32_t leaves_for_width(std::size_t width) {
  std::uint32_t leaves = 1;
  while (node_width(LeafCount(leaves)) < width) leaves *= 2;
  return leaves;
}

}  // namespace

PublicTree::PublicTree(const crypto::CipherSuite& suite, LeafCount leaves)
    : suite_(suite), leaf_count_(leaves), nodes_(node_width(leaves)), hash_cache_(nodes_.size()) {}

PublicTree::PublicTree(const crypto::CipherSuite& suite, LeafNode creator) : PublicTree(suite, LeafCount(1)) {
  nodes_[0] = Node{std::move(creator)};
}

ErrorOr<PublicTree> PublicTree::from_wire(const crypto::CipherSuite& suite, const RatchetTree& tree) {
  if (tree.nodes.empty()) return Error::decode("ratchet tree is empty");
  if (!tree.nodes.back().has_value()) return Error::decode("ratchet tree ends with a blank node");
  if (tree.nodes.size() > (std::size_t{1} << 31)) return Error::decode("ratchet tree is too large");
  PublicTree out(suite, LeafCount(leaves_for_width(tree.nodes.size())));
  for (std::size_t i = 0; i < tree.nodes.size(); ++i) {
    const auto& node = tree.nodes[i];
    if (!node) continue;
    bool leaf_position = i % 2 == 0;
    if (leaf_position != (node->node_type() == NodeType::kLeaf))
      return Error::decode("ratchet tree has a leaf where a parent belongs, or the reverse");
    out.nodes_[i] = node;
  }
  for (std::size_t i = 1; i < out.nodes_.size(); i += 2) {
    const ParentNode* parent = out.parent_node(NodeIndex(static_cast<std::uint32_t>(i)));
    if (parent == nullptr) continue;
    for (LeafIndex unmerged : parent->unmerged_leaves) {
      if (unmerged.value >= out.leaf_count_.value || out.leaf(unmerged) == nullptr ||
          !in_subtree(to_node(unmerged), NodeIndex(static_cast<std::uint32_t>(i))))
        return Error::decode("ratchet tree parent lists an unmerged leaf that is blank or not below it");
    }
  }
  return out;
}

RatchetTree PublicTree::to_wire() const {
  RatchetTree tree;
  std::size_t end = nodes_.size();
  while (end > 0 && !nodes_[end - 1]) --end;
  tree.nodes.assign(nodes_.begin(), nodes_.begin() + static_cast<std::ptrdiff_t>(end));
  return tree;
}

const LeafNode* PublicTree::leaf(LeafIndex leaf) const {
  if (leaf.value >= leaf_count_.value) return nullptr;
  const auto& node = nodes_[to_node(leaf).value];
  return node ? std::get_if<LeafNode>(&node->value) : nullptr;
}

const ParentNode* PublicTree::parent_node(NodeIndex index) const {
  if (index.value >= nodes_.size()) return nullptr;
  const auto& node = nodes_[index.value];
  return node ? std::get_if<ParentNode>(&node->value) : nullptr;
}

std::vector<NodeIndex> PublicTree::resolution(NodeIndex node) const {
  if (!is_blank(node)) {
    std::vector<NodeIndex> out{node};
    if (const ParentNode* parent = parent_node(node)) {
      for (LeafIndex unmerged : parent->unmerged_leaves) out.push_back(to_node(unmerged));
    }
    return out;
  }
  if (is_leaf(node)) return {};
  std::vector<NodeIndex> out = resolution(*left(node));
  std::vector<NodeIndex> right_part = resolution(*right(node));
  out.insert(out.end(), right_part.begin(), right_part.end());
  return out;
}

// TreeHashInput (§7.8). With `excluded`, the listed leaves are hashed as blank
// and dropped from unmerged_leaves: the "original" tree of §7.9.
Bytes PublicTree::hash_node(NodeIndex node, const std::set<std::uint32_t>* excluded) const {
  tls::Writer w;
  if (is_leaf(node)) {
    std::uint32_t index = node.value / 2;
    w.u8(static_cast<std::uint8_t>(NodeType::kLeaf));
    w.u32(index);
    const LeafNode* leaf_node = leaf(LeafIndex(index));
    bool present = leaf_node != nullptr && !(excluded && excluded->contains(index));
    w.u8(present ? 1 : 0);
    if (present) tls::write(w, *leaf_node);
  } else {
    w.u8(static_cast<std::uint8_t>(NodeType::kParent));
    const ParentNode* parent = parent_node(node);
    w.u8(parent ? 1 : 0);
    if (parent) {
      if (excluded) {
        ParentNode filtered = *parent;
        std::erase_if(filtered.unmerged_leaves, [&](LeafIndex l) { return excluded->contains(l.value); });
        tls::write(w, filtered);
      } else {
        tls::write(w, *parent);
      }
    }
    NodeIndex l = *left(node), r = *right(node);
    w.opaque(excluded ? original_tree_hash(l, *excluded) : tree_hash(l));
    w.opaque(excluded ? original_tree_hash(r, *excluded) : tree_hash(r));
  }
  return suite_.hash().digest(w.view());
}

Bytes PublicTree::tree_hash(NodeIndex node) const {
  Bytes& cached = hash_cache_[node.value];
  if (cached.empty()) cached = hash_node(node, nullptr);
  return cached;
}

Bytes PublicTree::original_tree_hash(NodeIndex node, const std::set<std::uint32_t>& excluded) const {
  // Untouched subtrees reuse the cached hash (§7.9: "no recomputation is
  // needed" when no excluded leaf is below).
  bool touched = std::any_of(excluded.begin(), excluded.end(),
                             [&](std::uint32_t l) { return in_subtree(to_node(LeafIndex(l)), node); });
  return touched ? hash_node(node, &excluded) : tree_hash(node);
}

Bytes PublicTree::parent_hash(NodeIndex parent, NodeIndex sibling) const {
  const ParentNode* p = parent_node(parent);
  VERIFY(p != nullptr);
  std::set<std::uint32_t> excluded;
  for (LeafIndex l : p->unmerged_leaves) excluded.insert(l.value);
  // ParentHashInput { encryption_key<V>; parent_hash<V>; original_sibling_tree_hash<V>; }
  tls::Writer w;
  w.opaque(p->encryption_key);
  w.opaque(p->parent_hash);
  w.opaque(original_tree_hash(sibling, excluded));
  return suite_.hash().digest(w.view());
}

bool PublicTree::parent_hash_valid(NodeIndex parent, NodeIndex descendant, NodeIndex child,
                                   NodeIndex sibling) const {
  const Bytes* claimed = nullptr;
  if (const ParentNode* d = parent_node(descendant)) {
    claimed = &d->parent_hash;
  } else if (is_leaf(descendant)) {
    const LeafNode* d_leaf = leaf(LeafIndex(descendant.value / 2));
    if (d_leaf == nullptr) return false;
    const auto* commit = std::get_if<LeafNodeCommitSource>(&d_leaf->source);
    if (commit == nullptr) return false;
    claimed = &commit->parent_hash;
  }
  if (claimed == nullptr || *claimed != parent_hash(parent, sibling)) return false;
  // P's unmerged leaves under C must be exactly C's resolution without D:
  // D and P were set by one UpdatePath with nothing non-blank in between.
  std::vector<NodeIndex> expected = resolution(child);
  std::erase(expected, descendant);
  std::vector<NodeIndex> unmerged;
  for (LeafIndex l : parent_node(parent)->unmerged_leaves) {
    if (in_subtree(to_node(l), child)) unmerged.push_back(to_node(l));
  }
  std::sort(expected.begin(), expected.end());
  std::sort(unmerged.begin(), unmerged.end());
  return expected == unmerged;
}

ErrorOr<void> PublicTree::verify_parent_hashes() const {
  for (std::uint32_t i = 1; i < nodes_.size(); i += 2) {
    NodeIndex p(i);
    if (parent_node(p) == nullptr) continue;
    NodeIndex l = *left(p), r = *right(p);
    int chains = 0;
    for (auto [child, sibling] : {std::pair{l, r}, std::pair{r, l}}) {
      for (NodeIndex d : resolution(child)) {
        if (parent_hash_valid(p, d, child, sibling)) ++chains;
      }
    }
    // Exactly one chain: a parent set by an UpdatePath is vouched for by
    // the one leaf whose signed parent hash covers it (§7.9.2).
    if (chains != 1) return Error::crypto("ratchet tree parent node is not parent-hash valid");
  }
  return {};
}

ErrorOr<void> PublicTree::verify_leaf_signatures(BytesView group_id) const {
  std::set<Bytes> encryption_keys, signature_keys;
  for (std::uint32_t i = 0; i < leaf_count_.value; ++i) {
    const LeafNode* l = leaf(LeafIndex(i));
    if (l == nullptr) continue;
    auto key = suite_.signature().public_key(l->signature_key);
    if (!key) return Error::decode("ratchet tree leaf has a malformed signature key");
    Bytes tbs = tls::encode(LeafNodeTbs::of(*l, group_id, LeafIndex(i)));
    if (!suite_.verify_with_label(*key, "LeafNodeTBS", tbs, l->signature))
      return Error::crypto("ratchet tree leaf signature does not verify");
    if (!encryption_keys.insert(l->encryption_key).second)
      return Error::decode("two ratchet tree leaves share an encryption key");
    if (!signature_keys.insert(l->signature_key).second)
      return Error::decode("two ratchet tree leaves share a signature key");
  }
  for (std::uint32_t i = 1; i < nodes_.size(); i += 2) {
    const ParentNode* p = parent_node(NodeIndex(i));
    if (p && !encryption_keys.insert(p->encryption_key).second)
      return Error::decode("two ratchet tree nodes share an encryption key");
  }
  return {};
}

ErrorOr<void> PublicTree::validate(BytesView group_id) const {
  TRY(verify_leaf_signatures(group_id));
  TRY(verify_parent_hashes());
  return {};
}

std::vector<PublicTree::PathStep> PublicTree::filtered_direct_path(LeafIndex leaf_index) const {
  std::vector<PathStep> steps;
  NodeIndex child = to_node(leaf_index);
  for (NodeIndex n : direct_path(child, leaf_count_)) {
    NodeIndex copath_child = *left(n) == child ? *right(n) : *left(n);
    if (!resolution(copath_child).empty()) steps.push_back({n, copath_child});
    child = n;
  }
  return steps;
}

ErrorOr<Bytes> PublicTree::merge_path(LeafIndex sender, const std::vector<HpkePublicKey>& keys) {
  if (leaf(sender) == nullptr) return Error::invalid_argument("update path from a blank or missing leaf");
  std::vector<PathStep> steps = filtered_direct_path(sender);
  if (steps.size() != keys.size())
    return Error::decode("update path length differs from the sender's filtered direct path");
  blank_direct_path(sender);
  // Root first: each parent hash covers every non-blank node above it.
  Bytes above;
  for (std::size_t i = steps.size(); i-- > 0;) {
    set_node(steps[i].node, Node{ParentNode{keys[i], above, {}}});
    above = parent_hash(steps[i].node, steps[i].copath_child);
  }
  return above;
}

void PublicTree::set_leaf(LeafIndex index, LeafNode node) { set_node(to_node(index), Node{std::move(node)}); }

void PublicTree::set_node(NodeIndex node, std::optional<Node> value) {
  nodes_[node.value] = std::move(value);
  // Only the hashes on the path to the root depend on this node.
  for (std::optional<NodeIndex> n = node; n; n = parent(*n, leaf_count_)) hash_cache_[n->value].clear();
}

void PublicTree::blank_direct_path(LeafIndex leaf_index) {
  for (NodeIndex n : direct_path(to_node(leaf_index), leaf_count_)) {
    if (!is_blank(n)) set_node(n, std::nullopt);
  }
}

LeafIndex PublicTree::add_leaf(LeafNode node) {
  std::uint32_t index = 0;
  while (index < leaf_count_.value && !is_blank(to_node(LeafIndex(index)))) ++index;
  if (index == leaf_count_.value) {
    // Doubling keeps every existing node at its array index; only the root
    // moves up, and its hash is not cached yet.
    leaf_count_ = LeafCount(leaf_count_.value * 2);
    nodes_.resize(node_width(leaf_count_));
    hash_cache_.resize(nodes_.size());
  }
  LeafIndex added(index);
  set_node(to_node(added), Node{std::move(node)});
  for (NodeIndex n : direct_path(to_node(added), leaf_count_)) {
    if (is_blank(n)) continue;
    Node updated = *nodes_[n.value];
    std::get<ParentNode>(updated.value).unmerged_leaves.push_back(added);
    set_node(n, std::move(updated));
  }
  return added;
}

ErrorOr<void> PublicTree::update_leaf(LeafIndex index, LeafNode node) {
  if (leaf(index) == nullptr) return Error::invalid_argument("update of a blank or missing leaf");
  set_node(to_node(index), Node{std::move(node)});
  blank_direct_path(index);
  return {};
}

ErrorOr<void> PublicTree::remove_leaf(LeafIndex index) {
  if (leaf(index) == nullptr) return Error::invalid_argument("removal of a blank or missing leaf");
  set_node(to_node(index), std::nullopt);
  blank_direct_path(index);
  truncate();
  return {};
}

void PublicTree::truncate() {
  // Drop the right half while it holds no member (§12.1.3).
  while (leaf_count_.value > 1) {
    std::uint32_t half = leaf_count_.value / 2;
    bool right_empty = true;
    for (std::uint32_t i = half; i < leaf_count_.value && right_empty; ++i)
      right_empty = is_blank(to_node(LeafIndex(i)));
    if (!right_empty) break;
    leaf_count_ = LeafCount(half);
    nodes_.resize(node_width(leaf_count_));
    hash_cache_.resize(nodes_.size());
  }
}

}  // namespace pmos::mls

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

PublicTree::PublicTree(const crypto::CipherSuite& suite, LeafCount leaves) : suite_(suite), leaf_count_(1) {
  chunks_.push_back(std::make_shared<Chunk>());
  resize(leaves);
}

PublicTree::PublicTree(const crypto::CipherSuite& suite, LeafNode creator) : PublicTree(suite, LeafCount(1)) {
  set_node(NodeIndex(0), Node{std::move(creator)});
}

PublicTree::Slot& PublicTree::mutable_slot(std::uint32_t node) {
  std::shared_ptr<Chunk>& chunk = chunks_[node / kChunkNodes];
  if (chunk.use_count() > 1) chunk = std::make_shared<Chunk>(*chunk);
  return (*chunk)[node % kChunkNodes];
}

void PublicTree::resize(LeafCount leaves) {
  std::uint32_t old_width = width(), new_width = node_width(leaves);
  for (std::uint32_t i = new_width; i < old_width; ++i) {
    const Slot& s = slot(i);
    if (s.node || s.hash_size != 0 || !s.subtree_blank) mutable_slot(i) = Slot{};
  }
  leaf_count_ = leaves;
  chunks_.resize((new_width + kChunkNodes - 1) / kChunkNodes);
  for (auto& chunk : chunks_) {
    if (!chunk) chunk = std::make_shared<Chunk>();
  }
  // Growing puts the old root under a new one, which may now cover members.
  if (new_width > old_width) update_blank_flags(root(leaf_count_));
}

bool PublicTree::compute_blank_flag(NodeIndex node) const {
  if (slot(node.value).node) return false;
  if (is_leaf(node)) return true;
  return slot(left(node)->value).subtree_blank && slot(right(node)->value).subtree_blank;
}

void PublicTree::update_blank_flags(NodeIndex node) {
  for (std::optional<NodeIndex> n = node; n; n = parent(*n, leaf_count_)) {
    bool blank = compute_blank_flag(*n);
    // The flag depends on the subtree only: unchanged here, unchanged above.
    if (blank == slot(n->value).subtree_blank && *n != node) break;
    if (blank != slot(n->value).subtree_blank) mutable_slot(n->value).subtree_blank = blank;
  }
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
    out.mutable_slot(static_cast<std::uint32_t>(i)).node = std::make_shared<const Node>(*node);
  }
  // Blank flags bottom-up, level by level.
  for (std::uint32_t lvl = 0; (std::uint32_t{1} << lvl) <= out.width(); ++lvl) {
    std::uint32_t first = (std::uint32_t{1} << lvl) - 1, step = std::uint32_t{1} << (lvl + 1);
    for (std::uint32_t i = first; i < out.width(); i += step) {
      bool blank = out.compute_blank_flag(NodeIndex(i));
      if (blank != out.slot(i).subtree_blank) out.mutable_slot(i).subtree_blank = blank;
    }
  }
  for (std::uint32_t i = 1; i < out.width(); i += 2) {
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
  std::uint32_t end = width();
  while (end > 0 && !slot(end - 1).node) --end;
  tree.nodes.reserve(end);
  for (std::uint32_t i = 0; i < end; ++i) {
    const Slot& s = slot(i);
    tree.nodes.push_back(s.node ? std::optional<Node>(*s.node) : std::nullopt);
  }
  return tree;
}

const LeafNode* PublicTree::leaf(LeafIndex leaf) const {
  if (leaf.value >= leaf_count_.value) return nullptr;
  const auto& node = slot(to_node(leaf).value).node;
  return node ? std::get_if<LeafNode>(&node->value) : nullptr;
}

const ParentNode* PublicTree::parent_node(NodeIndex index) const {
  if (index.value >= width()) return nullptr;
  const auto& node = slot(index.value).node;
  return node ? std::get_if<ParentNode>(&node->value) : nullptr;
}

std::vector<NodeIndex> PublicTree::resolution(NodeIndex node) const {
  std::vector<NodeIndex> out;
  resolve_into(node, out);
  return out;
}

void PublicTree::resolve_into(NodeIndex node, std::vector<NodeIndex>& out) const {
  const Slot& s = slot(node.value);
  if (s.subtree_blank) return;
  if (s.node) {
    out.push_back(node);
    if (const ParentNode* parent = parent_node(node)) {
      for (LeafIndex unmerged : parent->unmerged_leaves) out.push_back(to_node(unmerged));
    }
    return;
  }
  resolve_into(*left(node), out);
  resolve_into(*right(node), out);
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
  const Slot& s = slot(node.value);
  if (s.hash_size == 0) {
    Bytes hash = hash_node(node, nullptr);
    VERIFY(!hash.empty() && hash.size() <= s.hash.size());
    std::copy(hash.begin(), hash.end(), s.hash.begin());
    s.hash_size = static_cast<std::uint8_t>(hash.size());
    return hash;
  }
  return Bytes(s.hash.begin(), s.hash.begin() + s.hash_size);
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
  for (std::uint32_t i = 1; i < width(); i += 2) {
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
  for (std::uint32_t i = 1; i < width(); i += 2) {
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
    if (!slot(copath_child.value).subtree_blank) steps.push_back({n, copath_child});
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
  mutable_slot(node.value).node = value ? std::make_shared<const Node>(std::move(*value)) : nullptr;
  // Only the hashes on the path to the root depend on this node.
  for (std::optional<NodeIndex> n = node; n; n = parent(*n, leaf_count_)) {
    if (slot(n->value).hash_size != 0) mutable_slot(n->value).hash_size = 0;
  }
  update_blank_flags(node);
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
    resize(LeafCount(leaf_count_.value * 2));
  }
  LeafIndex added(index);
  set_node(to_node(added), Node{std::move(node)});
  for (NodeIndex n : direct_path(to_node(added), leaf_count_)) {
    if (is_blank(n)) continue;
    Node updated = *slot(n.value).node;
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
    resize(LeafCount(half));
  }
}

}  // namespace pmos::mls

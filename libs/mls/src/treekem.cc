#include "pmos/mls/treekem.h"

#include <algorithm>

#include "pmos/base/codec.h"
#include "pmos/crypto/random.h"

namespace pmos::mls {

namespace {

ErrorOr<crypto::PrivateKey> node_key(const crypto::CipherSuite& suite, BytesView path_secret) {
  SecretBytes node_secret = TRY(suite.derive_secret(path_secret, "node"));
  return suite.kem().derive_key_pair(node_secret);
}

// The HPKE public key of a non-blank node, as stored in the tree.
const HpkePublicKey* public_key_of(const PublicTree& tree, NodeIndex node) {
  if (is_leaf(node)) {
    const LeafNode* leaf = tree.leaf(LeafIndex(node.value / 2));
    return leaf ? &leaf->encryption_key : nullptr;
  }
  const ParentNode* parent = tree.parent_node(node);
  return parent ? &parent->encryption_key : nullptr;
}

// The copath child's resolution without this commit's new members (§7.6).
std::vector<NodeIndex> encryption_targets(const PublicTree& tree, NodeIndex copath_child,
                                          const std::set<std::uint32_t>& new_leaves) {
  std::vector<NodeIndex> targets = tree.resolution(copath_child);
  std::erase_if(targets, [&](NodeIndex n) { return is_leaf(n) && new_leaves.contains(n.value / 2); });
  return targets;
}

bool in_subtree_of(NodeIndex node, NodeIndex ancestor) {
  std::uint64_t half = (std::uint64_t{1} << level(ancestor)) - 1;
  return std::uint64_t{node.value} + half >= ancestor.value && node.value <= std::uint64_t{ancestor.value} + half;
}

}  // namespace

PrivateTree::PrivateTree(LeafIndex own_leaf, crypto::PrivateKey leaf_key) : own_leaf_(own_leaf) {
  keys_.emplace(to_node(own_leaf).value, std::move(leaf_key));
}

const crypto::PrivateKey* PrivateTree::key(NodeIndex node) const {
  auto it = keys_.find(node.value);
  return it == keys_.end() ? nullptr : &it->second;
}

ErrorOr<void> PrivateTree::set_path_secret(const crypto::CipherSuite& suite, NodeIndex node, BytesView path_secret) {
  set_key(node, TRY(node_key(suite, path_secret)));
  return {};
}

void PrivateTree::prune(const PublicTree& tree) {
  std::erase_if(keys_, [&](const auto& entry) {
    NodeIndex node(entry.first);
    return node.value >= node_width(tree.leaf_count()) || tree.is_blank(node);
  });
}

ErrorOr<void> PrivateTree::check_consistent(const PublicTree& tree) const {
  for (const auto& [index, key] : keys_) {
    const HpkePublicKey* pub = public_key_of(tree, NodeIndex(index));
    if (pub == nullptr) return Error::internal("private tree holds a key for a blank node");
    BytesView ours = key.public_key().bytes();
    if (!std::equal(ours.begin(), ours.end(), pub->begin(), pub->end()))
      return Error::internal("private tree key does not match the public tree");
  }
  return {};
}

ErrorOr<CreatedPath> create_update_path(const crypto::CipherSuite& suite, PublicTree& tree,
                                        PrivateTree& private_tree, LeafNode leaf,
                                        const crypto::PrivateKey& signature_key, BytesView group_id,
                                        const std::set<std::uint32_t>& new_leaves,
                                        const GroupContextFor& context) {
  LeafIndex sender = private_tree.own_leaf();
  std::vector<PublicTree::PathStep> steps = tree.filtered_direct_path(sender);

  CreatedPath out;
  std::vector<HpkePublicKey> public_keys;
  std::vector<crypto::PrivateKey> private_keys;
  SecretBytes path_secret = crypto::random_secret(suite.hash().size());
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (i > 0) path_secret = TRY(suite.derive_secret(path_secret, "path"));
    crypto::PrivateKey key = TRY(node_key(suite, path_secret));
    public_keys.push_back(to_bytes(key.public_key().bytes()));
    private_keys.push_back(std::move(key));
    out.nodes.push_back(steps[i].node);
    out.path_secrets.push_back(path_secret.clone());
  }
  // The commit secret is the path secret one step beyond the last node.
  out.commit_secret = TRY(suite.derive_secret(path_secret, "path"));

  crypto::PrivateKey leaf_key = TRY(suite.kem().generate());
  Bytes leaf_parent_hash = TRY(tree.merge_path(sender, public_keys));
  leaf.encryption_key = to_bytes(leaf_key.public_key().bytes());
  leaf.source = LeafNodeCommitSource{leaf_parent_hash};
  leaf.signature = TRY(suite.sign_with_label(signature_key, "LeafNodeTBS",
                                             tls::encode(LeafNodeTbs::of(leaf, group_id, sender))));
  tree.set_leaf(sender, leaf);

  Bytes group_context = context(tree.root_tree_hash());
  out.path.leaf_node = leaf;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    UpdatePathNode node;
    node.encryption_key = public_keys[i];
    for (NodeIndex target : encryption_targets(tree, steps[i].copath_child, new_leaves)) {
      crypto::PublicKey pub = TRY(suite.kem().public_key(*public_key_of(tree, target)));
      auto sealed = TRY(suite.encrypt_with_label(pub, "UpdatePathNode", group_context, out.path_secrets[i]));
      node.encrypted_path_secret.push_back(HpkeCiphertext{std::move(sealed.kem_output), std::move(sealed.ciphertext)});
    }
    out.path.nodes.push_back(std::move(node));
  }

  // Old keys on the direct path are gone from the tree: drop them (FS).
  for (NodeIndex n : direct_path(to_node(sender), tree.leaf_count())) private_tree.forget(n);
  private_tree.set_key(to_node(sender), std::move(leaf_key));
  for (std::size_t i = 0; i < steps.size(); ++i) private_tree.set_key(steps[i].node, std::move(private_keys[i]));
  return out;
}

ErrorOr<AppliedPath> apply_update_path(const crypto::CipherSuite& suite, PublicTree& tree,
                                       PrivateTree& private_tree, LeafIndex sender, const UpdatePath& path,
                                       BytesView group_id, const std::set<std::uint32_t>& new_leaves,
                                       const GroupContextFor& context) {
  LeafIndex own = private_tree.own_leaf();
  if (sender == own) return Error::invalid_argument("a member does not apply its own update path");
  const auto* source = std::get_if<LeafNodeCommitSource>(&path.leaf_node.source);
  if (source == nullptr) return Error::decode("update path leaf node is not of source commit");
  const LeafNode* old_leaf = tree.leaf(sender);
  if (old_leaf == nullptr) return Error::invalid_argument("update path from a blank or missing leaf");
  auto signer = suite.signature().public_key(path.leaf_node.signature_key);
  if (!signer) return Error::decode("update path leaf has a malformed signature key");
  if (!suite.verify_with_label(*signer, "LeafNodeTBS", tls::encode(LeafNodeTbs::of(path.leaf_node, group_id, sender)),
                               path.leaf_node.signature))
    return Error::crypto("update path leaf signature does not verify");

  std::vector<PublicTree::PathStep> steps = tree.filtered_direct_path(sender);
  if (steps.size() != path.nodes.size())
    return Error::decode("update path length differs from the sender's filtered direct path");
  std::vector<HpkePublicKey> keys;
  for (const auto& node : path.nodes) keys.push_back(node.encryption_key);
  Bytes expected_parent_hash = TRY(tree.merge_path(sender, keys));
  // Constant time is not needed (public values), but exact equality is: the
  // signed parent hash binds the leaf to every key on its path (§7.9.2).
  if (expected_parent_hash != source->parent_hash)
    return Error::crypto("update path parent hash does not match the sender's signed leaf");
  tree.set_leaf(sender, path.leaf_node);

  // The lowest filtered node whose copath subtree holds us.
  std::size_t i = 0;
  while (i < steps.size() && !in_subtree_of(to_node(own), steps[i].copath_child)) ++i;
  if (i == steps.size()) return Error::internal("no node of the update path covers this member");
  if (new_leaves.contains(own.value)) return Error::invalid_argument("a member added by this commit gets its path secret from the Welcome");

  std::vector<NodeIndex> targets = encryption_targets(tree, steps[i].copath_child, new_leaves);
  if (targets.size() != path.nodes[i].encrypted_path_secret.size())
    return Error::decode("update path node has the wrong number of ciphertexts");
  std::size_t slot = 0;
  while (slot < targets.size() && private_tree.key(targets[slot]) == nullptr) ++slot;
  if (slot == targets.size()) return Error::internal("this member holds no key of the copath resolution");

  Bytes group_context = context(tree.root_tree_hash());
  const HpkeCiphertext& ciphertext = path.nodes[i].encrypted_path_secret[slot];
  auto decrypted = suite.decrypt_with_label(*private_tree.key(targets[slot]), "UpdatePathNode", group_context,
                                            ciphertext.kem_output, ciphertext.ciphertext);
  if (!decrypted) return Error::crypto("update path secret does not decrypt for this member");
  AppliedPath out;
  out.path_secret = SecretBytes::copy_of(*decrypted);
  secure_zero(*decrypted);

  for (NodeIndex n : direct_path(to_node(sender), tree.leaf_count())) private_tree.forget(n);
  SecretBytes path_secret = out.path_secret.clone();
  for (std::size_t j = i; j < steps.size(); ++j) {
    if (j > i) path_secret = TRY(suite.derive_secret(path_secret, "path"));
    crypto::PrivateKey key = TRY(node_key(suite, path_secret));
    BytesView derived = key.public_key().bytes();
    if (!std::equal(derived.begin(), derived.end(), keys[j].begin(), keys[j].end()))
      return Error::crypto("update path public key does not match the key derived from its path secret");
    private_tree.set_key(steps[j].node, std::move(key));
  }
  out.commit_secret = TRY(suite.derive_secret(path_secret, "path"));
  return out;
}

}  // namespace pmos::mls

#pragma once

// TreeKEM (RFC 9420 §7.4-7.6): a member's private view of the ratchet tree,
// and creating / applying the UpdatePath of a commit.
//
// PrivateTree is a value like PublicTree: apply a path to copies of both and
// keep them only if the whole commit checks out. Not synchronised.

#include <functional>
#include <map>
#include <set>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/base/secret_bytes.h"
#include "pmos/crypto/cipher_suite.h"
#include "pmos/mls/public_tree.h"
#include "pmos/mls/update_path.h"

namespace pmos::mls {

// The HPKE private keys this member holds: its leaf's, and those of the
// parent nodes on its direct path that it learnt from path secrets (the tree
// invariant, §4.1.1).
class PrivateTree {
 public:
  PrivateTree(LeafIndex own_leaf, crypto::PrivateKey leaf_key);

  LeafIndex own_leaf() const { return own_leaf_; }
  // nullptr if we hold no key for `node`.
  const crypto::PrivateKey* key(NodeIndex node) const;
  void set_key(NodeIndex node, crypto::PrivateKey key) { keys_.insert_or_assign(node.value, std::move(key)); }
  // node_priv = DeriveKeyPair(DeriveSecret(path_secret, "node")).
  ErrorOr<void> set_path_secret(const crypto::CipherSuite& suite, NodeIndex node, BytesView path_secret);
  void forget(NodeIndex node) { keys_.erase(node.value); }
  // Drops the keys of nodes that `tree` has blanked (removes, updates).
  void prune(const PublicTree& tree);
  // Every key we hold belongs to a non-blank node of `tree` with the
  // matching public key.
  ErrorOr<void> check_consistent(const PublicTree& tree) const;

 private:
  LeafIndex own_leaf_;
  std::map<std::uint32_t, crypto::PrivateKey> keys_;
};

// The serialized provisional GroupContext for a tree hash (§12.4.2): paths
// are encrypted with the group context of the tree *after* the path.
using GroupContextFor = std::function<Bytes(BytesView tree_hash)>;

struct CreatedPath {
  UpdatePath path;
  SecretBytes commit_secret;
  // path_secret[n] of each filtered direct-path node, bottom-up (a Welcome
  // gives a new member the one of its common ancestor with the committer).
  std::vector<NodeIndex> nodes;
  std::vector<SecretBytes> path_secrets;
};

// The committer's side: new leaf key and path keys for `private_tree`'s
// leaf, merged into `tree` and `private_tree`; `leaf` is the committer's leaf
// node template (credential, capabilities, extensions...) whose key, source
// and signature are replaced. `new_leaves` (added in this commit) get no
// ciphertexts.
ErrorOr<CreatedPath> create_update_path(const crypto::CipherSuite& suite, PublicTree& tree,
                                        PrivateTree& private_tree, LeafNode leaf,
                                        const crypto::PrivateKey& signature_key, BytesView group_id,
                                        const std::set<std::uint32_t>& new_leaves,
                                        const GroupContextFor& context);

struct AppliedPath {
  SecretBytes commit_secret;
  SecretBytes path_secret;  // the one decrypted (at the common ancestor)
};

// A member's side: checks the sender's new leaf (commit source, signature,
// parent hash), merges the path into `tree`, decrypts the path secret meant
// for us and checks every derived public key against the path.
ErrorOr<AppliedPath> apply_update_path(const crypto::CipherSuite& suite, PublicTree& tree,
                                       PrivateTree& private_tree, LeafIndex sender, const UpdatePath& path,
                                       BytesView group_id, const std::set<std::uint32_t>& new_leaves,
                                       const GroupContextFor& context);

}  // namespace pmos::mls

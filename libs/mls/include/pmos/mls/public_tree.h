#pragma once

// The public half of a group's ratchet tree (RFC 9420 §4, §7): the nodes every
// member sees, with resolution, tree hash, parent hash, the validation a
// joiner must do (§7.9.2, §12.4.3.1) and the edits proposals make (§12.1).
//
// A value: copy it to get a new epoch's tree and edit the copy, so a commit
// that fails half-way leaves the old tree untouched. Tree hashes are cached
// per node and recomputed only along edited paths. Not synchronised.

#include <optional>
#include <set>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/crypto/cipher_suite.h"
#include "pmos/mls/ratchet_tree.h"
#include "pmos/mls/tree_math.h"

namespace pmos::mls {

class PublicTree {
 public:
  // A one-member tree.
  PublicTree(const crypto::CipherSuite& suite, LeafNode creator);

  // From the wire form (the ratchet_tree extension, §12.4.3.3): checks the
  // shape — non-empty, last node non-blank, leaves at even and parents at odd
  // positions, unmerged leaves that exist and lie below their parent — and
  // pads to a full tree. Signatures and parent hashes are checked by
  // validate(), which a joiner must call.
  static ErrorOr<PublicTree> from_wire(const crypto::CipherSuite& suite, const RatchetTree& tree);
  // The wire form, trailing blank nodes omitted.
  RatchetTree to_wire() const;

  LeafCount leaf_count() const { return leaf_count_; }
  // nullptr for a blank node (or one of the other kind).
  const LeafNode* leaf(LeafIndex leaf) const;
  const ParentNode* parent_node(NodeIndex node) const;
  bool is_blank(NodeIndex node) const { return !nodes_[node.value].has_value(); }

  // §4.1.1: the non-blank nodes that cover the subtree under `node`.
  std::vector<NodeIndex> resolution(NodeIndex node) const;
  // §7.8.
  Bytes tree_hash(NodeIndex node) const;
  Bytes root_tree_hash() const { return tree_hash(root(leaf_count_)); }
  // §7.9: the parent hash of `parent` with copath child `sibling`.
  Bytes parent_hash(NodeIndex parent, NodeIndex sibling) const;

  // Everything a joiner checks of a tree it was given: every non-blank
  // parent is parent-hash valid through exactly one child chain (§7.9.2),
  // every leaf's signature verifies (with `group_id` for update/commit
  // leaves), no two leaves share an encryption or signature key.
  ErrorOr<void> validate(BytesView group_id) const;
  ErrorOr<void> verify_parent_hashes() const;
  ErrorOr<void> verify_leaf_signatures(BytesView group_id) const;

  // The filtered direct path of `leaf` (§4.1.2), bottom-up, each node with
  // its child on the leaf's copath.
  struct PathStep {
    NodeIndex node;
    NodeIndex copath_child;
  };
  std::vector<PathStep> filtered_direct_path(LeafIndex leaf) const;

  // Merges an UpdatePath's public keys from `sender` (§7.5, recipient step
  // 1-3): blanks the sender's direct path, sets one key per filtered node
  // (unmerged leaves cleared) with parent hashes computed top-down, and
  // returns the parent hash the sender's new leaf must carry.
  ErrorOr<Bytes> merge_path(LeafIndex sender, const std::vector<HpkePublicKey>& keys);
  // Replaces a leaf without touching its path (the committer's new leaf).
  void set_leaf(LeafIndex leaf, LeafNode node);

  // §12.1.1: the leftmost blank leaf, or a new one after doubling the tree;
  // the new leaf is added to the unmerged leaves of its non-blank ancestors.
  LeafIndex add_leaf(LeafNode leaf);
  // §12.1.2: replace the sender's leaf and blank its direct path.
  ErrorOr<void> update_leaf(LeafIndex leaf, LeafNode node);
  // §12.1.3: blank the leaf and its direct path, then truncate.
  ErrorOr<void> remove_leaf(LeafIndex leaf);

 private:
  PublicTree(const crypto::CipherSuite& suite, LeafCount leaves);
  void set_node(NodeIndex node, std::optional<Node> value);
  void blank_direct_path(LeafIndex leaf);
  void truncate();
  Bytes hash_node(NodeIndex node, const std::set<std::uint32_t>* excluded_leaves) const;
  Bytes original_tree_hash(NodeIndex node, const std::set<std::uint32_t>& excluded_leaves) const;
  bool parent_hash_valid(NodeIndex parent, NodeIndex descendant, NodeIndex child, NodeIndex sibling) const;

  crypto::CipherSuite suite_;
  LeafCount leaf_count_;
  std::vector<std::optional<Node>> nodes_;  // indexed by NodeIndex, full width
  mutable std::vector<Bytes> hash_cache_;   // empty = not computed
};

}  // namespace pmos::mls

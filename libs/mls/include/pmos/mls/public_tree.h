#pragma once

// The public half of a group's ratchet tree (RFC 9420 §4, §7): the nodes every
// member sees, with resolution, tree hash, parent hash, the validation a
// joiner must do (§7.9.2, §12.4.3.1) and the edits proposals make (§12.1).
//
// A value: copy it to get a new epoch's tree and edit the copy, so a commit
// that fails half-way leaves the old tree untouched. Copies share storage:
// nodes live in fixed-size chunks that an edit clones only when another copy
// still holds them, so a copy costs one pointer per 64 nodes and an edit
// along a path clones O(log n) chunks. Tree hashes are cached per node and
// recomputed only along edited paths.
//
// Not synchronised. Copies share chunks, and tree_hash() fills its cache
// lazily into them; once root_tree_hash() has run every node's hash is
// cached and const use writes nothing, so copies may then go to different
// threads (State computes it for every tree it holds).

#include <array>
#include <memory>
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
  bool is_blank(NodeIndex node) const { return !slot(node.value).node; }

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
  struct Slot {
    std::shared_ptr<const Node> node;  // null: blank
    // The tree hash; hash_size 0: not computed. Filled from const methods
    // (see the note above). Inline, so cloning a chunk allocates once.
    mutable std::uint8_t hash_size = 0;
    mutable std::array<std::uint8_t, 64> hash;
    // Every node in this subtree is blank (its resolution is empty). Kept
    // up to date by every edit, so resolution() skips blank subtrees
    // without walking them.
    bool subtree_blank = true;
  };
  static constexpr std::uint32_t kChunkNodes = 64;
  using Chunk = std::array<Slot, kChunkNodes>;

  PublicTree(const crypto::CipherSuite& suite, LeafCount leaves);
  std::uint32_t width() const { return node_width(leaf_count_); }
  const Slot& slot(std::uint32_t node) const { return (*chunks_[node / kChunkNodes])[node % kChunkNodes]; }
  // The slot, after cloning its chunk if another copy shares it.
  Slot& mutable_slot(std::uint32_t node);
  // Changes leaf_count_; slots beyond the width are kept blank and unhashed.
  void resize(LeafCount leaves);
  void set_node(NodeIndex node, std::optional<Node> value);
  // Recomputes subtree_blank of `node` and then of its ancestors while it
  // changes.
  void update_blank_flags(NodeIndex node);
  bool compute_blank_flag(NodeIndex node) const;
  void resolve_into(NodeIndex node, std::vector<NodeIndex>& out) const;
  void blank_direct_path(LeafIndex leaf);
  void truncate();
  Bytes hash_node(NodeIndex node, const std::set<std::uint32_t>* excluded_leaves) const;
  Bytes original_tree_hash(NodeIndex node, const std::set<std::uint32_t>& excluded_leaves) const;
  bool parent_hash_valid(NodeIndex parent, NodeIndex descendant, NodeIndex child, NodeIndex sibling) const;

  crypto::CipherSuite suite_;
  LeafCount leaf_count_;
  std::vector<std::shared_ptr<Chunk>> chunks_;  // node i in chunk i / kChunkNodes
};

}  // namespace pmos::mls

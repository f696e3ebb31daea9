#pragma once

// Proof generation from stored hashes (RFC 9162 §2.1.3.1 PATH and §2.1.4.1
// SUBPROOF). Every element of a proof, and the root itself, is the Merkle
// Tree Hash of a range of leaves; each such range is a fold of at most
// log2(n) complete subtrees. Generation therefore happens in two steps:
//
//   1. plan_*() lists the complete subtrees (NodeId) whose hashes are needed:
//      O(log n) of them in total, computed from the sizes alone.
//   2. assemble() folds the hashes read for those nodes into the proof.
//
// inclusion_proof() etc. do both around one HashReader::read_hashes call.
// The split lets a tile client see which tiles it must fetch before
// fetching them (tile.h), and a database back end read all hashes in one
// query.

#include <cstdint>
#include <span>
#include <vector>

#include "pmos/base/error_or.h"
#include "pmos/tlog/hash_reader.h"
#include "pmos/tlog/merkle.h"

namespace pmos::tlog {

// The stored hashes a proof (or a root) needs and how to fold them.
// Element e of the result is the fold of nodes[starts[e] .. starts[e+1])
// (the last element runs to the end of nodes): h = last; h = node_hash(n, h)
// for each earlier n, right to left, as MTH splits a range.
struct ProofPlan {
  std::vector<NodeId> nodes;
  std::vector<std::uint32_t> starts;
};

// PATH(index, D[0:tree_size]). Errors if index >= tree_size.
ErrorOr<ProofPlan> plan_inclusion_proof(std::uint64_t index, std::uint64_t tree_size);
// PROOF(old_size, D[0:new_size]); empty when old_size is 0 or equals
// new_size (see verify_consistency). Errors if old_size > new_size.
ErrorOr<ProofPlan> plan_consistency_proof(std::uint64_t old_size, std::uint64_t new_size);
// MTH(D[0:tree_size]) as a one-element plan; zero elements for the empty tree.
ProofPlan plan_tree_hash(std::uint64_t tree_size);

// Folds `hashes` (hashes[i] for plan.nodes[i]) into the proof elements.
std::vector<Hash> assemble(const ProofPlan& plan, std::span<const Hash> hashes);

// Steps 1 and 2 with one read from `reader`.
ErrorOr<std::vector<Hash>> inclusion_proof(const HashReader& reader, std::uint64_t index,
                                           std::uint64_t tree_size);
ErrorOr<std::vector<Hash>> consistency_proof(const HashReader& reader, std::uint64_t old_size,
                                             std::uint64_t new_size);
// The root of the tree of `tree_size` leaves.
ErrorOr<Hash> tree_hash(const HashReader& reader, std::uint64_t tree_size);

// A complete subtree hash to be stored.
struct StoredNode {
  NodeId node;
  Hash hash;
  friend bool operator==(const StoredNode&, const StoredNode&) = default;
};

// Integrating a batch of entries into a stored tree: given the store's
// hashes for the tree of `old_size` leaves and the leaf hashes appended
// after it, returns every complete subtree the batch creates (the leaves
// included), in an order in which they can be written. Reads only the
// O(log n) right-border hashes of the old tree, in one read_hashes call; a
// batch of b entries costs about 2b node hashes. This is what a persistent
// log writes, in the same transaction as the entries, before signing a
// checkpoint of the new size.
ErrorOr<std::vector<StoredNode>> integrate(const HashReader& reader, std::uint64_t old_size,
                                           std::span<const Hash> new_leaves);

}  // namespace pmos::tlog

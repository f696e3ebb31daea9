#pragma once

// The Merkle tree of RFC 6962 §2.1 / RFC 9162 §2.1 with SHA-256: leaf and
// node hashing, the root of a list of leaves, and verification of inclusion
// and consistency proofs. Proof *generation* lives in proof.h, because it
// reads stored hashes; everything here is pure computation.

#include <array>
#include <cstdint>
#include <span>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"

namespace pmos::tlog {

// A SHA-256 Merkle tree hash (a leaf hash, an interior node or a root).
using Hash = std::array<std::uint8_t, 32>;

// Longest proof of a tree with fewer than 2^64 leaves: one hash per level.
inline constexpr std::size_t kMaxProofHashes = 64;

// SHA-256(0x00 || data): the hash of a log entry (RFC 9162 §2.1.1).
Hash leaf_hash(BytesView data);
// SHA-256(0x01 || left || right).
Hash node_hash(const Hash& left, const Hash& right);
// MTH({}) = SHA-256(""), the root of the empty tree.
Hash empty_tree_hash();

// MTH(D[0:n]) computed directly from all n leaf hashes, as the RFC's recursive
// definition reads: O(n) time. The reference against which stored-hash
// proofs are checked; logs use tree_hash() from proof.h instead.
Hash root_from_leaf_hashes(std::span<const Hash> leaf_hashes);

// RFC 9162 §2.1.3.2: succeeds only if `proof` shows that the entry with
// `leaf` hash is at `index` in the tree of `tree_size` leaves whose root is
// `root`. A failed check is a kCrypto error; an impossible shape (index not
// below the size, too many or too few hashes) is kInvalidArgument or kCrypto
// with its own message.
ErrorOr<void> verify_inclusion(std::uint64_t index, std::uint64_t tree_size, const Hash& leaf,
                               std::span<const Hash> proof, const Hash& root);

// The root that `proof` implies for `leaf` at `index` in a tree of
// `tree_size` leaves (the first steps of §2.1.3.2), for callers that look the
// root up by the result.
ErrorOr<Hash> root_from_inclusion_proof(std::uint64_t index, std::uint64_t tree_size,
                                        const Hash& leaf, std::span<const Hash> proof);

// RFC 9162 §2.1.4.2: succeeds only if `proof` shows that the tree of
// `old_size` leaves with root `old_root` is a prefix of the tree of
// `new_size` leaves with root `new_root`. The RFC defines proofs for
// 0 < old_size < new_size; as tlog-witness does, we also accept the two
// trivial cases with an empty proof: old_size == 0 (every tree extends the
// empty one) and old_size == new_size (the roots must then be equal).
ErrorOr<void> verify_consistency(std::uint64_t old_size, std::uint64_t new_size,
                                 const Hash& old_root, const Hash& new_root,
                                 std::span<const Hash> proof);

}  // namespace pmos::tlog

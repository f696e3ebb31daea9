#include "pmos/tlog/merkle.h"

#include <bit>

#include "pmos/base/check.h"
#include "sha256.h"

namespace pmos::tlog {
namespace {

constexpr std::uint8_t kLeafPrefix = 0x00;  // RFC 9162 §2.1.1 domain separation
constexpr std::uint8_t kNodePrefix = 0x01;

// Largest power of two strictly below n (n >= 2): the RFC's split point k.
std::uint64_t split_point(std::uint64_t n) { return std::bit_floor(n - 1); }

Hash root_recursive(std::span<const Hash> leaves) {
  if (leaves.size() == 1) return leaves[0];
  std::uint64_t k = split_point(leaves.size());
  return node_hash(root_recursive(leaves.first(k)), root_recursive(leaves.subspan(k)));
}

// Public data: the roots and proofs are published, so an early-exit compare
// leaks nothing an attacker does not already have.
bool same(const Hash& a, const Hash& b) { return a == b; }

}  // namespace

Hash leaf_hash(BytesView data) {
  const std::uint8_t prefix = kLeafPrefix;
  return detail::sha256({BytesView(&prefix, 1), data});
}

Hash node_hash(const Hash& left, const Hash& right) {
  const std::uint8_t prefix = kNodePrefix;
  return detail::sha256({BytesView(&prefix, 1), left, right});
}

Hash empty_tree_hash() { return detail::sha256({}); }

Hash root_from_leaf_hashes(std::span<const Hash> leaf_hashes) {
  if (leaf_hashes.empty()) return empty_tree_hash();
  return root_recursive(leaf_hashes);
}

ErrorOr<Hash> root_from_inclusion_proof(std::uint64_t index, std::uint64_t tree_size,
                                        const Hash& leaf, std::span<const Hash> proof) {
  // RFC 9162 §2.1.3.2, step by step.
  if (index >= tree_size) return Error::invalid_argument("inclusion proof: index is not below the tree size");
  if (proof.size() > kMaxProofHashes) return Error::crypto("inclusion proof: too many hashes");
  std::uint64_t fn = index;
  std::uint64_t sn = tree_size - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (sn == 0) return Error::crypto("inclusion proof: too many hashes");
    if ((fn & 1) == 1 || fn == sn) {
      r = node_hash(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Error::crypto("inclusion proof: too few hashes");
  return r;
}

ErrorOr<void> verify_inclusion(std::uint64_t index, std::uint64_t tree_size, const Hash& leaf,
                               std::span<const Hash> proof, const Hash& root) {
  Hash computed = TRY(root_from_inclusion_proof(index, tree_size, leaf, proof));
  if (!same(computed, root)) return Error::crypto("inclusion proof: computed root does not match");
  return {};
}

ErrorOr<void> verify_consistency(std::uint64_t old_size, std::uint64_t new_size,
                                 const Hash& old_root, const Hash& new_root,
                                 std::span<const Hash> proof) {
  if (old_size > new_size) return Error::invalid_argument("consistency proof: old size exceeds new size");
  if (old_size == new_size) {
    if (!proof.empty()) return Error::crypto("consistency proof: must be empty for equal sizes");
    if (!same(old_root, new_root)) return Error::crypto("consistency proof: equal sizes with different roots");
    return {};
  }
  if (old_size == 0) {
    if (!proof.empty()) return Error::crypto("consistency proof: must be empty from the empty tree");
    return {};
  }
  // RFC 9162 §2.1.4.2 from here on, with 0 < old_size < new_size.
  if (proof.empty()) return Error::crypto("consistency proof: empty");
  if (proof.size() > kMaxProofHashes) return Error::crypto("consistency proof: too many hashes");

  // Step 2 prepends old_root when old_size is a power of two; walking an
  // index instead avoids copying the proof.
  const bool prepend = std::has_single_bit(old_size);
  std::size_t next = 0;
  const Hash& first = prepend ? old_root : proof[next++];

  std::uint64_t fn = old_size - 1;
  std::uint64_t sn = new_size - 1;
  while ((fn & 1) == 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = first;
  Hash sr = first;
  for (; next < proof.size(); ++next) {
    const Hash& c = proof[next];
    if (sn == 0) return Error::crypto("consistency proof: too many hashes");
    if ((fn & 1) == 1 || fn == sn) {
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return Error::crypto("consistency proof: too few hashes");
  if (!same(fr, old_root)) return Error::crypto("consistency proof: old root does not match");
  if (!same(sr, new_root)) return Error::crypto("consistency proof: new root does not match");
  return {};
}

}  // namespace pmos::tlog

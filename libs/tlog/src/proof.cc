#include "pmos/tlog/proof.h"

#include <array>
#include <bit>

#include "pmos/base/check.h"

namespace pmos::tlog {
namespace {

// Largest power of two strictly below n (n >= 2): the RFC's split point k.
std::uint64_t split_point(std::uint64_t n) { return std::bit_floor(n - 1); }

// Appends one proof element: MTH(D[begin:end]) as the complete subtrees
// that MTH's recursion bottoms out in, left to right. Every range the RFC
// recursions produce starts at a multiple of a power of two at least as
// large as its biggest piece, so each piece is an aligned complete subtree.
void add_range(ProofPlan& plan, std::uint64_t begin, std::uint64_t end) {
  VERIFY(begin < end);
  plan.starts.push_back(static_cast<std::uint32_t>(plan.nodes.size()));
  while (begin < end) {
    std::uint64_t size = std::bit_floor(end - begin);
    VERIFY(begin % size == 0);
    auto level = static_cast<std::uint8_t>(std::countr_zero(size));
    plan.nodes.push_back(NodeId{level, begin >> level});
    begin += size;
  }
}

// PATH(m, D[offset : offset+n]) (RFC 9162 §2.1.3.1), written as a loop from
// the root down; the RFC lists elements from the leaf up, so they are
// collected here and emitted in reverse.
void add_path(ProofPlan& plan, std::uint64_t m, std::uint64_t n) {
  struct Range { std::uint64_t begin, end; };
  std::vector<Range> siblings;
  std::uint64_t offset = 0;
  while (n > 1) {
    std::uint64_t k = split_point(n);
    if (m < k) {
      siblings.push_back({offset + k, offset + n});
      n = k;
    } else {
      siblings.push_back({offset, offset + k});
      offset += k;
      m -= k;
      n -= k;
    }
  }
  for (auto it = siblings.rbegin(); it != siblings.rend(); ++it) add_range(plan, it->begin, it->end);
}

// SUBPROOF(m, D[0:n], true) (RFC 9162 §2.1.4.1), as a loop, emitted in
// reverse for the same reason as add_path.
void add_subproof(ProofPlan& plan, std::uint64_t m, std::uint64_t n) {
  struct Range { std::uint64_t begin, end; };
  std::vector<Range> elements;
  std::uint64_t offset = 0;
  bool complete_is_known = true;  // the RFC's `b`
  while (m != n) {
    std::uint64_t k = split_point(n);
    if (m <= k) {
      elements.push_back({offset + k, offset + n});
      n = k;
    } else {
      elements.push_back({offset, offset + k});
      offset += k;
      m -= k;
      n -= k;
      complete_is_known = false;
    }
  }
  // m == n: the old tree's own subtree, unless the verifier already has it.
  if (!complete_is_known) elements.push_back({offset, offset + m});
  for (auto it = elements.rbegin(); it != elements.rend(); ++it) add_range(plan, it->begin, it->end);
}

}  // namespace

ErrorOr<ProofPlan> plan_inclusion_proof(std::uint64_t index, std::uint64_t tree_size) {
  if (index >= tree_size) return Error::invalid_argument("inclusion proof: index is not below the tree size");
  ProofPlan plan;
  add_path(plan, index, tree_size);
  return plan;
}

ErrorOr<ProofPlan> plan_consistency_proof(std::uint64_t old_size, std::uint64_t new_size) {
  if (old_size > new_size) return Error::invalid_argument("consistency proof: old size exceeds new size");
  ProofPlan plan;
  if (old_size == 0 || old_size == new_size) return plan;
  add_subproof(plan, old_size, new_size);
  return plan;
}

ProofPlan plan_tree_hash(std::uint64_t tree_size) {
  ProofPlan plan;
  if (tree_size > 0) add_range(plan, 0, tree_size);
  return plan;
}

std::vector<Hash> assemble(const ProofPlan& plan, std::span<const Hash> hashes) {
  VERIFY(hashes.size() == plan.nodes.size());
  std::vector<Hash> proof;
  proof.reserve(plan.starts.size());
  for (std::size_t e = 0; e < plan.starts.size(); ++e) {
    std::size_t first = plan.starts[e];
    std::size_t last = e + 1 < plan.starts.size() ? plan.starts[e + 1] : hashes.size();
    VERIFY(first < last);
    Hash h = hashes[last - 1];
    for (std::size_t i = last - 1; i-- > first;) h = node_hash(hashes[i], h);
    proof.push_back(h);
  }
  return proof;
}

namespace {
ErrorOr<std::vector<Hash>> read_and_assemble(const HashReader& reader, const ProofPlan& plan) {
  std::vector<Hash> hashes(plan.nodes.size());
  if (!plan.nodes.empty()) TRY(reader.read_hashes(plan.nodes, hashes));
  return assemble(plan, hashes);
}
}  // namespace

ErrorOr<std::vector<Hash>> inclusion_proof(const HashReader& reader, std::uint64_t index,
                                           std::uint64_t tree_size) {
  ProofPlan plan = TRY(plan_inclusion_proof(index, tree_size));
  return read_and_assemble(reader, plan);
}

ErrorOr<std::vector<Hash>> consistency_proof(const HashReader& reader, std::uint64_t old_size,
                                             std::uint64_t new_size) {
  ProofPlan plan = TRY(plan_consistency_proof(old_size, new_size));
  return read_and_assemble(reader, plan);
}

ErrorOr<Hash> tree_hash(const HashReader& reader, std::uint64_t tree_size) {
  if (tree_size == 0) return empty_tree_hash();
  std::vector<Hash> root = TRY(read_and_assemble(reader, plan_tree_hash(tree_size)));
  VERIFY(root.size() == 1);
  return root[0];
}

ErrorOr<std::vector<StoredNode>> integrate(const HashReader& reader, std::uint64_t old_size,
                                           std::span<const Hash> new_leaves) {
  if (new_leaves.size() > ~old_size) return Error::invalid_argument("integrate: tree would exceed 2^64 - 1 leaves");
  // pending[l]: the hash of node (l, (size >> l) - 1) while bit l of size is
  // set, i.e. a left child still waiting for its right sibling.
  std::array<Hash, 64> pending{};
  std::vector<NodeId> border;
  for (unsigned level = 0; level < 64; ++level) {
    if ((old_size >> level) & 1) border.push_back(NodeId{static_cast<std::uint8_t>(level), (old_size >> level) - 1});
  }
  std::vector<Hash> border_hashes(border.size());
  if (!border.empty()) TRY(reader.read_hashes(border, border_hashes));
  for (std::size_t i = 0; i < border.size(); ++i) pending[border[i].level] = border_hashes[i];

  std::vector<StoredNode> out;
  out.reserve(2 * new_leaves.size() + 64);
  std::uint64_t size = old_size;
  for (const Hash& leaf : new_leaves) {
    Hash h = leaf;
    std::uint64_t index = size;
    unsigned level = 0;
    out.push_back(StoredNode{NodeId{0, index}, h});
    while (index & 1) {
      h = node_hash(pending[level], h);
      index >>= 1;
      ++level;
      out.push_back(StoredNode{NodeId{static_cast<std::uint8_t>(level), index}, h});
    }
    pending[level] = h;
    ++size;
  }
  return out;
}

}  // namespace pmos::tlog

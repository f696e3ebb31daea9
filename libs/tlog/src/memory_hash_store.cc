#include "pmos/tlog/memory_hash_store.h"

#include "pmos/base/check.h"

namespace pmos::tlog {

void MemoryHashStore::reserve(std::uint64_t leaves) {
  for (std::size_t level = 0; (leaves >> level) > 0; ++level) {
    if (levels_.size() <= level) levels_.emplace_back();
    levels_[level].reserve(leaves >> level);
  }
}

void MemoryHashStore::append(const Hash& leaf) {
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].push_back(leaf);
  // A node at an odd index completes its parent: hash the pair upward until
  // an even index (a left child still waiting for its sibling) is reached.
  for (std::size_t level = 0; (levels_[level].size() & 1) == 0; ++level) {
    if (levels_.size() <= level + 1) levels_.emplace_back();
    const std::vector<Hash>& row = levels_[level];
    Hash parent = node_hash(row[row.size() - 2], row[row.size() - 1]);
    levels_[level + 1].push_back(parent);
  }
}

ErrorOr<void> MemoryHashStore::read_hashes(std::span<const NodeId> nodes,
                                           std::span<Hash> out) const {
  VERIFY(nodes.size() == out.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const NodeId& node = nodes[i];
    if (node.level >= levels_.size() || node.index >= levels_[node.level].size()) {
      return Error::not_found("hash store: node is not stored (beyond the tree size)");
    }
    out[i] = levels_[node.level][node.index];
  }
  return {};
}

}  // namespace pmos::tlog

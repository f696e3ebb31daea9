#pragma once

#include <cstdint>
#include <vector>

#include "pmos/tlog/hash_reader.h"

namespace pmos::tlog {

// Every complete subtree hash of a growing log, in memory: level l holds
// size >> l hashes, so the whole store is just under 2 * size hashes
// (64 bytes per entry). Appending a leaf costs amortised O(1) node hashes.
// For tests, benchmarks, caches, and as the model of what a persistent store
// keeps.
//
// Not thread-safe for append(); concurrent read_hashes() calls are fine while
// nobody appends.
class MemoryHashStore final : public HashReader {
 public:
  MemoryHashStore() = default;

  // Reserves room for `leaves` entries so that a large build does not
  // repeatedly reallocate.
  void reserve(std::uint64_t leaves);
  // Appends the entry whose leaf hash is `leaf` and stores every subtree it
  // completes.
  void append(const Hash& leaf);
  std::uint64_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }

  ErrorOr<void> read_hashes(std::span<const NodeId> nodes, std::span<Hash> out) const override;

 private:
  std::vector<std::vector<Hash>> levels_;
};

}  // namespace pmos::tlog

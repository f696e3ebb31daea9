#pragma once

#include <cstdint>
#include <span>

#include "pmos/base/error_or.h"
#include "pmos/tlog/merkle.h"

namespace pmos::tlog {

// A complete (perfect) subtree of the log: the 2^level leaves starting at
// index << level. Level 0 is a leaf hash. Only complete subtrees are ever
// stored, because they never change once the log has grown past them; every
// root and proof element is a fold of O(log n) of them (proof.h).
struct NodeId {
  std::uint8_t level = 0;
  std::uint64_t index = 0;
  friend bool operator==(const NodeId&, const NodeId&) = default;
};

// Where proof generation gets stored hashes: an in-memory array
// (MemoryHashStore), a database table of the log service, or tiles fetched
// over HTTP (TileHashReader). Batched so that a backend can answer one
// proof's O(log n) hashes with one query or one round of tile fetches.
//
// Implementations must allow concurrent calls from several threads if the
// object is shared; read_hashes does not change the reader's observable state.
class HashReader {
 public:
  virtual ~HashReader() = default;
  // Fills out[i] with the hash of nodes[i] (out.size() == nodes.size()).
  // A node the reader does not hold is an error (kNotFound): a log that is
  // asked for a proof beyond its size must not invent hashes.
  virtual ErrorOr<void> read_hashes(std::span<const NodeId> nodes, std::span<Hash> out) const = 0;
};

}  // namespace pmos::tlog

#include "transaction_hash_reader.h"

#include <algorithm>

#include "pmos/base/check.h"

namespace pmos::tlogd {

ErrorOr<void> TransactionHashReader::read_hashes(std::span<const tlog::NodeId> nodes,
                                                 std::span<tlog::Hash> out) const {
  VERIFY(nodes.size() == out.size());
  // O(log n) point lookups on the primary key per proof: cheap enough that
  // one statement per node beats building a variable-length IN list (which
  // would defeat the per-connection statement cache).
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    auto row = TRY(transaction_->query_row("SELECT hash FROM tlog_nodes WHERE level = ? AND idx = ?",
                                           {nodes[i].level, static_cast<std::int64_t>(nodes[i].index)}));
    if (!row) return Error::not_found("log: tree hash not stored (beyond the tree size)");
    Bytes hash = row->take_blob(0);
    if (hash.size() != out[i].size()) return Error::internal("log: stored hash has the wrong size");
    std::copy(hash.begin(), hash.end(), out[i].begin());
  }
  return {};
}

}  // namespace pmos::tlogd

#pragma once

#include "pmos/store/database.h"
#include "pmos/tlog/hash_reader.h"

namespace pmos::tlogd {

// Stored tree hashes (table tlog_nodes) as seen by one transaction, so that
// proof generation and integrate() inside the integrator's write see the
// hashes that write has just inserted. Borrows the transaction; used by the
// one thread that owns it (Transaction is not thread-safe, so neither is
// this, despite HashReader's general contract).
class TransactionHashReader final : public tlog::HashReader {
 public:
  explicit TransactionHashReader(store::Transaction& transaction) : transaction_(&transaction) {}

  ErrorOr<void> read_hashes(std::span<const tlog::NodeId> nodes, std::span<tlog::Hash> out) const override;

 private:
  store::Transaction* transaction_;
};

}  // namespace pmos::tlogd

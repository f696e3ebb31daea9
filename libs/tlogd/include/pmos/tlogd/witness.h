#pragma once

// A transparency log witness, C2SP tlog-witness v1.0.0 (docs/log.md):
// POST /add-checkpoint verifies a log's checkpoint with the log key it is
// configured with, checks that it extends the latest checkpoint it cosigned
// for that origin, records it durably, and only then answers with its
// cosignature/v1 (tlog-cosignature v1.0.1). It never cosigns two
// checkpoints of one log that are not consistent with each other: a log
// that forks is refused (409 or 422) from then on.
//
// State: one row per origin (table tlog_witness_state) in libs/store,
// SQLite or PostgreSQL. The check against the stored size and the update
// run in one write transaction on the store's single writer, so two
// concurrent requests cannot roll the stored size back (the race the spec
// warns about).

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pmos/base/error_or.h"
#include "pmos/net/router.h"
#include "pmos/store/database.h"
#include "pmos/tlog/checkpoint.h"
#include "pmos/tlog/cosignature.h"
#include "pmos/tlog/note_keys.h"
#include "pmos/tlogd/witness_client.h"

namespace pmos::tlogd {

// An answer to add-checkpoint, as the HTTP layer sends it.
struct WitnessAnswer {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// The witness schema (its own migration history: keep the witness in a
// database of its own, not in a log's; docs/log.md).
ErrorOr<std::int64_t> migrate_witness_schema(store::Database& database);

class Witness {
 public:
  // `logs`: the log keys the witness trusts; a key's name is its log's
  // origin, and one origin may have several keys (rotation). Borrows
  // `database`, which must outlive the Witness. Thread-safe.
  static ErrorOr<std::unique_ptr<Witness>> open(store::Database& database, tlog::CosignatureSigner key,
                                                std::vector<tlog::Ed25519NoteVerifier> logs);

  const tlog::CosignatureSigner& key() const { return key_; }

  // The whole of add-checkpoint: 200 with the cosignature line, 400
  // (malformed, or old size above the checkpoint's), 403 (no trusted log
  // signature), 404 (unknown origin), 409 (old size is not what the witness
  // has, body "<size>\n" as text/x.tlog.size; or the same size with another
  // root, no body), 422 (the consistency proof does not verify), 500 (the
  // store failed; nothing was cosigned).
  WitnessAnswer add_checkpoint(std::string_view body);

  // The latest checkpoint cosigned for `origin` (the note as submitted),
  // nullopt if none.
  ErrorOr<std::optional<std::string>> latest(std::string_view origin) const;

 private:
  Witness(store::Database& database, tlog::CosignatureSigner key, std::vector<tlog::Ed25519NoteVerifier> logs)
      : database_(database), key_(std::move(key)), logs_(std::move(logs)) {}
  store::Database& database_;
  tlog::CosignatureSigner key_;
  std::vector<tlog::Ed25519NoteVerifier> logs_;
};

// POST /add-checkpoint on `router` (anonymous: the checkpoint's signature is
// the authentication, per the spec). Borrows `witness`.
ErrorOr<void> add_witness_routes(net::Router& router, Witness& witness);

// A Witness in this process seen as a CheckpointWitness: the answer goes
// through the same interpretation as one that came over HTTP. For a log
// and a witness in one process (tests, a single-host setup).
class LocalWitness final : public CheckpointWitness {
 public:
  explicit LocalWitness(Witness& witness) : witness_(witness), key_(witness.key().verifier()) {}
  const tlog::CosignatureVerifier& key() const override { return key_; }
  ErrorOr<WitnessReply> add_checkpoint(const tlog::AddCheckpointRequest& request) override;

 private:
  Witness& witness_;
  tlog::CosignatureVerifier key_;
};

}  // namespace pmos::tlogd

#include "pmos/tlogd/witness.h"

#include <algorithm>
#include <ctime>

#include "pmos/store/migration.h"
#include "pmos/tlog/merkle.h"
#include "pmos/tlog/witness.h"

namespace pmos::tlogd {
namespace {

// One row per log: the latest checkpoint this witness cosigned. The note is
// kept as submitted, so an operator can show a log's signature on a
// checkpoint that a later, inconsistent one contradicts.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE tlog_witness_state (
  origin TEXT PRIMARY KEY,
  size BIGINT NOT NULL,
  root {blob} NOT NULL,
  note TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
)sql";

constexpr store::Migration kMigrations[] = {
    {1, "tlog witness: latest cosigned checkpoint per log", kV1},
};

WitnessAnswer answer(int status, std::string body) {
  return WitnessAnswer{status, "text/plain; charset=utf-8", std::move(body)};
}

}  // namespace

ErrorOr<std::int64_t> migrate_witness_schema(store::Database& database) {
  return store::migrate(database, kMigrations);
}

ErrorOr<std::unique_ptr<Witness>> Witness::open(store::Database& database, tlog::CosignatureSigner key,
                                                std::vector<tlog::Ed25519NoteVerifier> logs) {
  if (logs.empty()) return Error::invalid_argument("witness: no log keys configured");
  // The same key listed twice would make open_note refuse every checkpoint
  // of that log (two verifiers with one name and key id): keep one.
  std::vector<tlog::Ed25519NoteVerifier> unique;
  for (auto& log : logs) {
    bool seen = std::any_of(unique.begin(), unique.end(), [&](const auto& kept) { return kept.vkey() == log.vkey(); });
    if (!seen) unique.push_back(std::move(log));
  }
  logs = std::move(unique);
  TRY(migrate_witness_schema(database));
  return std::unique_ptr<Witness>(new Witness(database, std::move(key), std::move(logs)));
}

WitnessAnswer Witness::add_checkpoint(std::string_view body) {
  auto request = tlog::parse_add_checkpoint_request(body);
  if (!request) return answer(400, std::string(request.error().message()) + "\n");
  auto note = tlog::parse_note(request->checkpoint);
  if (!note) return answer(400, std::string(note.error().message()) + "\n");
  auto checkpoint = tlog::parse_checkpoint(note->text);
  if (!checkpoint) return answer(400, std::string(checkpoint.error().message()) + "\n");

  std::vector<const tlog::NoteVerifier*> keys;
  for (const auto& log : logs_)
    if (log.name() == checkpoint->origin) keys.push_back(&log);
  if (keys.empty()) return answer(404, "unknown log origin\n");
  // Signatures by other keys (other witnesses' cosignatures) are ignored;
  // a failing signature by a trusted key refuses the note (open_note).
  auto opened = tlog::open_note(request->checkpoint, keys);
  if (!opened) return answer(403, "no valid signature by a trusted key for this log\n");
  if (request->old_size > checkpoint->size) return answer(400, "old size is above the checkpoint's size\n");
  if (request->old_size == 0 && !request->proof.empty())
    return answer(422, "the consistency proof from size 0 must be empty\n");

  std::optional<WitnessAnswer> refused;
  auto written = database_.write([&](store::Transaction& transaction) -> ErrorOr<void> {
    refused.reset();  // the write may run more than once
    auto row = TRY(transaction.query_row("SELECT size, root FROM tlog_witness_state WHERE origin = ?",
                                         {checkpoint->origin}));
    std::uint64_t known_size = 0;
    tlog::Hash known_root = tlog::empty_tree_hash();
    if (row) {
      known_size = static_cast<std::uint64_t>(row->int64(0));
      Bytes root = row->take_blob(1);
      if (root.size() != known_root.size()) return Error::internal("witness: stored root has the wrong size");
      std::copy(root.begin(), root.end(), known_root.begin());
    }
    if (request->old_size != known_size) {
      WitnessAnswer conflict = answer(409, tlog::format_witness_size(known_size));
      conflict.content_type = "text/x.tlog.size";
      refused = std::move(conflict);
      return {};
    }
    if (request->old_size == checkpoint->size) {
      if (checkpoint->root != known_root) refused = answer(409, "");
    } else if (!tlog::verify_consistency(known_size, checkpoint->size, known_root, checkpoint->root, request->proof)) {
      refused = answer(422, "the consistency proof does not verify\n");
    }
    if (refused) return {};
    TRY(transaction.execute(
        "INSERT INTO tlog_witness_state (origin, size, root, note, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, "
        "note = excluded.note, updated_at = excluded.updated_at",
        {checkpoint->origin, static_cast<std::int64_t>(checkpoint->size), BytesView(checkpoint->root),
         request->checkpoint, static_cast<std::int64_t>(std::time(nullptr))}));
    return {};
  });
  // Nothing is cosigned unless the new state is durable: a witness that
  // forgot what it cosigned after a crash could be led to cosign a fork.
  if (!written) return answer(500, "witness: storing the checkpoint failed\n");
  if (refused) return std::move(*refused);

  auto signature = key_.sign(note->text);
  if (!signature) return answer(500, "witness: signing failed\n");
  return answer(200, tlog::format_signature_line({std::string(key_.name()), key_.key_id(), std::move(*signature)}));
}

ErrorOr<std::optional<std::string>> Witness::latest(std::string_view origin) const {
  auto transaction = TRY(database_.begin_read());
  auto row = TRY(transaction.query_row("SELECT note FROM tlog_witness_state WHERE origin = ?", {origin}));
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(row->text(0));
}

ErrorOr<void> add_witness_routes(net::Router& router, Witness& witness) {
  return router.add(
      net::Method::kPost, "/add-checkpoint",
      [&witness](const net::Request& request) -> ErrorOr<net::Response> {
        WitnessAnswer result = witness.add_checkpoint(request.body);
        net::Response response = net::Response::text(std::move(result.body), result.status);
        response.content_type = std::move(result.content_type);
        return response;
      },
      net::RouteOptions{.auth = net::PeerAuth::kAnonymous,
                        .max_body_bytes = tlog::kMaxNoteSize + 64 * 1024});
}

ErrorOr<WitnessReply> LocalWitness::add_checkpoint(const tlog::AddCheckpointRequest& request) {
  std::string body = TRY(tlog::format_add_checkpoint_request(request));
  WitnessAnswer result = witness_.add_checkpoint(body);
  return interpret_witness_answer(result.status, result.content_type, result.body);
}

}  // namespace pmos::tlogd

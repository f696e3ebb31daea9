#pragma once

// The transparency log service (issue 7): a durable, append-only log of
// entries on libs/store, integrated into an RFC 6962 Merkle tree in batches
// and published as C2SP tlog-checkpoint + tlog-tiles (docs/log.md).
//
//   append(entry) -> index     durable when it returns (group commit)
//   integrate()                 leaves + tile hashes + signed checkpoint, one
//                               transaction; the background integrator calls
//                               it every LogConfig::integrate_interval
//   checkpoint(), read_tile(), read_entry_bundle()   what the HTTP layer serves
//
// The tree size only grows: every checkpoint is stored with the hashes it
// commits to, in the transaction that makes them durable, and the log
// re-integrates from the stored checkpoint after a crash. The integration
// is deterministic in the entries, so whatever was appended before a crash
// ends up in the same tree either way.
//
// With witnesses (LogConfig::witnesses), each new checkpoint is submitted
// to them per tlog-witness (witness_client.h) and served with their
// verified cosignatures, once at least LogConfig::witness_quorum signed.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/store/database.h"
#include "pmos/tlog/checkpoint.h"
#include "pmos/tlog/note_keys.h"
#include "pmos/tlog/tile.h"
#include "pmos/tlogd/witness_client.h"

namespace pmos::tlogd {

struct LogConfig {
  // How often the background integrator looks for new entries.
  std::chrono::milliseconds integrate_interval{500};
  // At most this many entries per integration transaction, so that one
  // round stays short for the appends that wait behind it on the writer.
  std::size_t max_integrate_batch = 64 * 1024;
  // Witnesses (tlog-witness) the log submits each new checkpoint to; their
  // verified cosignatures are added to the note served at /checkpoint.
  // shared_ptr keeps LogConfig copyable; the Log is the only user, from its
  // integrator thread (or collect_cosignatures' caller), one at a time.
  std::vector<std::shared_ptr<CheckpointWitness>> witnesses;
  // How many witnesses must have cosigned a checkpoint before it is served.
  // 0: serve every checkpoint at once, with whatever cosignatures came back.
  // Above 0: /checkpoint keeps serving the last checkpoint that had a
  // quorum (the tiles of newer ones are served already, they are harmless).
  std::size_t witness_quorum = 0;
};

// A signed checkpoint and its note (the note as served at /checkpoint:
// the log's signature, plus the witnesses' cosignatures once collected).
struct PublishedCheckpoint {
  tlog::Checkpoint checkpoint;
  std::string note;
  std::size_t cosignatures = 0;  // witness cosignature lines in `note`
};

// The schema this log keeps in its database (tables tlog_*; docs/log.md).
// Exposed so that a program sharing the database with other tables can run
// the migrations itself; Log::open runs them too.
ErrorOr<std::int64_t> migrate_log_schema(store::Database& database);

// One transparency log in a database. The log's key name is its origin.
//
// Borrows `database`, which must outlive the Log. Thread-safe: append() from
// any number of threads, the reads from any thread, integrate() serialised
// internally. One process per database: two processes appending to the
// same PostgreSQL log would have appends refused by the primary key (never
// a gap or a duplicate index), and two integrators would fail on the node
// table's key; neither corrupts the log, but neither is supported.
class Log {
 public:
  // Migrates the schema, loads the latest checkpoint (verifying it with the
  // key's verifier and checking the stored hashes reproduce its root: a
  // swapped key file or a damaged node table refuses to start instead of
  // signing a fork), signs the empty checkpoint on a new log, and integrates
  // whatever was appended but not yet integrated before the last shutdown.
  // Does not start the background integrator (start()).
  static ErrorOr<std::unique_ptr<Log>> open(store::Database& database,
                                            tlog::Ed25519NoteSigner key, LogConfig config = {});
  ~Log();  // stops the integrator; queued appends finish with the Database
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  const std::string& origin() const { return origin_; }
  tlog::Ed25519NoteVerifier verifier() const { return key_.verifier(); }

  // Appends an entry and returns its index once it is durable. Entries are
  // 1..65535 bytes (the entry bundle's uint16 length prefix). Blocks for
  // one group commit (about one fsync).
  ErrorOr<std::uint64_t> append(BytesView entry);
  // The same without blocking: `done` runs on the store's writer thread once
  // the entry is durable (or with the error); keep it short.
  using AppendDone = std::function<void(ErrorOr<std::uint64_t>)>;
  void append_async(Bytes entry, AppendDone done);

  // One integration round: takes up to max_integrate_batch entries past the
  // published size, stores their Merkle tree hashes, signs and stores the
  // checkpoint of the new size, then publishes it. Returns the published
  // size (unchanged if nothing was waiting).
  ErrorOr<std::uint64_t> integrate();
  // integrate() until nothing is waiting.
  ErrorOr<std::uint64_t> integrate_all();
  // Submits the latest signed checkpoint to every configured witness
  // (tlog-witness add-checkpoint, resubmitting once with the size a witness
  // reports on 409), verifies the cosignatures, stores the cosigned note and
  // publishes it if the quorum is met. Returns the number of cosignatures;
  // the error of a witness that refused or failed goes to `on_witness_error`
  // and does not stop the others. A no-op returning 0 without witnesses.
  // The background integrator calls it after every round that signed.
  ErrorOr<std::size_t> collect_cosignatures(
      const std::function<void(std::string_view witness, const Error&)>& on_witness_error = {});

  // Starts / stops the background integrator (idempotent). Errors of a
  // round go to `on_error` (may be empty) and the round is retried at the
  // next interval; so is a cosigning round that some witness failed, whose
  // error goes to `on_witness_error` with the witness's name.
  void start(std::function<void(const Error&)> on_error = {},
             std::function<void(std::string_view witness, const Error&)> on_witness_error = {});
  void stop();

  // What /checkpoint serves (with witnesses and a quorum, possibly older
  // than latest_signed()).
  PublishedCheckpoint checkpoint() const;
  // The latest checkpoint the log signed, without cosignatures.
  PublishedCheckpoint latest_signed() const;
  // The size of the latest signed checkpoint: the integrated entries.
  std::uint64_t size() const;

  // Contents of a hash tile of the stored tree: width * 32 bytes. kNotFound
  // if the log has not (yet) integrated the entries the tile covers.
  ErrorOr<Bytes> read_tile(const tlog::TileId& tile) const;
  // An entry bundle (tlog::encode_entry_bundle) of integrated entries only:
  // an entry is published with the checkpoint that covers it, not before.
  ErrorOr<Bytes> read_entry_bundle(const tlog::TileId& tile) const;
  // One integrated entry.
  ErrorOr<Bytes> read_entry(std::uint64_t index) const;

 private:
  Log(store::Database& database, tlog::Ed25519NoteSigner key, LogConfig config);
  ErrorOr<void> load();
  ErrorOr<PublishedCheckpoint> load_witnessed(store::Transaction& transaction);
  // Whether the latest signed checkpoint still lacks a witness's cosignature.
  bool cosigning_pending();
  ErrorOr<tlog::NoteSignature> submit_to_witness(std::size_t witness, const PublishedCheckpoint& latest,
                                                 const std::string& text);

  store::Database& database_;
  tlog::Ed25519NoteSigner key_;
  tlog::Ed25519NoteVerifier verifier_;
  std::string origin_;
  LogConfig config_;

  std::mutex integrate_mutex_;  // one integration round at a time
  std::mutex witness_mutex_;    // one cosigning round at a time
  mutable std::mutex state_mutex_;
  PublishedCheckpoint latest_;     // guarded by state_mutex_
  PublishedCheckpoint published_;  // guarded by state_mutex_
  // Size of the latest checkpoint all witnesses cosigned, and the size each
  // witness last reported or cosigned (its old size for the next request).
  // Guarded by witness_mutex_.
  std::optional<std::uint64_t> cosigned_size_;
  std::vector<std::uint64_t> witness_sizes_;

  std::mutex thread_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread integrator_;
};

}  // namespace pmos::tlogd

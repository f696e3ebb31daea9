#include "pmos/tlogd/log.h"

#include <algorithm>
#include <array>
#include <ctime>
#include <future>
#include <limits>
#include <vector>

#include "pmos/base/check.h"
#include "pmos/store/migration.h"
#include "pmos/tlog/entry_bundle.h"
#include "pmos/tlog/proof.h"
#include "transaction_hash_reader.h"

namespace pmos::tlogd {
namespace {

// The log's schema history, in translate_sql's dialect. Shipped migrations
// are never edited; add the next version instead.
//
// tlog_entries.idx is the entry's index. It is assigned as MAX(idx) + 1
// inside the writer's transaction, never by a sequence: a PostgreSQL
// sequence leaves a gap when a transaction rolls back, and a gap in a log
// is an entry that cannot be proven.
// tlog_nodes holds every complete subtree hash (tlog/proof.h), so level 8L
// is the content of the level-L tiles.
// tlog_checkpoints holds every checkpoint the log signed and published;
// the size is the key, so two checkpoints of one size cannot both exist.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE tlog_entries (
  idx {id_pk},
  data {blob} NOT NULL
);
CREATE TABLE tlog_nodes (
  level BIGINT NOT NULL,
  idx BIGINT NOT NULL,
  hash {blob} NOT NULL,
  PRIMARY KEY (level, idx)
);
CREATE TABLE tlog_checkpoints (
  size BIGINT PRIMARY KEY,
  root {blob} NOT NULL,
  note TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
)sql";

// tlog_witnessed holds the checkpoints that came back from the witnesses
// with cosignatures (the signed note plus their lines), so that a restarted
// log with a witness quorum serves the last cosigned checkpoint at once.
constexpr std::string_view kV2 = R"sql(
CREATE TABLE tlog_witnessed (
  size BIGINT PRIMARY KEY,
  note TEXT NOT NULL,
  cosignatures BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
)sql";

constexpr store::Migration kMigrations[] = {
    {1, "tlog: entries, tree hashes, checkpoints", kV1},
    {2, "tlog: witnessed checkpoints", kV2},
};

constexpr Error kEntrySize = Error::invalid_argument("log entry must be 1..65535 bytes");
constexpr Error kNotIntegrated = Error::not_found("tile or entries not yet in the log");

// The subquery is on its own so that both back ends answer it from the
// primary key's index (SQLite's min/max optimisation wants exactly
// "SELECT MAX(col) FROM t"): an append costs O(log n), not a scan.
constexpr std::string_view kInsertEntry =
    "INSERT INTO tlog_entries (idx, data) VALUES "
    "(COALESCE((SELECT MAX(idx) FROM tlog_entries) + 1, 0), ?) RETURNING idx";

ErrorOr<std::uint64_t> insert_entry(store::Transaction& transaction, BytesView entry) {
  auto row = TRY(transaction.query_row(kInsertEntry, {entry}));
  if (!row) return Error::internal("log: INSERT ... RETURNING returned no row");
  return static_cast<std::uint64_t>(row->int64(0));
}

bool valid_entry(BytesView entry) { return !entry.empty() && entry.size() <= tlog::kMaxEntrySize; }

tlog::Hash to_hash(const Bytes& bytes) {
  tlog::Hash hash{};
  VERIFY(bytes.size() == hash.size());
  std::copy(bytes.begin(), bytes.end(), hash.begin());
  return hash;
}

// The group commit writer runs this; the entry's bytes live in the request.
class AppendRequest final : public store::WriteRequest {
 public:
  AppendRequest(Bytes entry, Log::AppendDone done) : entry_(std::move(entry)), done_(std::move(done)) {}

  ErrorOr<void> run(store::Transaction& transaction) override {
    // May run more than once (batch retry); the last run's index is the
    // one that commits.
    index_ = TRY(insert_entry(transaction, entry_));
    return {};
  }
  void complete(ErrorOr<void> result) override {
    if (result) {
      done_(index_);
    } else {
      done_(result.error());
    }
  }

 private:
  Bytes entry_;
  Log::AppendDone done_;
  std::uint64_t index_ = 0;
};

// Tile and bundle coordinates must fit the int64 columns: a client asking
// for tile 2^60 gets a 404, not an overflow.
bool tile_range(const tlog::TileId& tile, std::uint64_t& start, std::uint64_t& end) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::int64_t>::max();
  if (tile.width == 0 || tile.width > tlog::kTileWidth) return false;
  if (tile.index > (kMax >> 8)) return false;
  start = tile.index * tlog::kTileWidth;
  end = start + tile.width;
  return true;
}

}  // namespace

ErrorOr<std::int64_t> migrate_log_schema(store::Database& database) {
  return store::migrate(database, kMigrations);
}

Log::Log(store::Database& database, tlog::Ed25519NoteSigner key, LogConfig config)
    : database_(database),
      key_(std::move(key)),
      verifier_(key_.verifier()),
      origin_(key_.name()),
      config_(std::move(config)),
      witness_sizes_(config_.witnesses.size(), 0) {}

Log::~Log() { stop(); }

namespace {
// created_at is for operators reading the table, nothing depends on it.
std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }
}  // namespace

ErrorOr<std::unique_ptr<Log>> Log::open(store::Database& database, tlog::Ed25519NoteSigner key,
                                        LogConfig config) {
  if (config.max_integrate_batch == 0) return Error::invalid_argument("log: max_integrate_batch is 0");
  if (config.witness_quorum > config.witnesses.size())
    return Error::invalid_argument("log: witness quorum above the number of witnesses");
  for (const auto& witness : config.witnesses)
    if (!witness) return Error::invalid_argument("log: null witness");
  TRY(migrate_log_schema(database));
  std::unique_ptr<Log> log(new Log(database, std::move(key), std::move(config)));
  TRY(log->load());
  TRY(log->integrate_all());
  return log;
}

ErrorOr<void> Log::load() {
  std::optional<store::Row> latest;
  {
    auto transaction = TRY(database_.begin_read());
    latest = TRY(transaction.query_row(
        "SELECT size, root, note FROM tlog_checkpoints ORDER BY size DESC LIMIT 1"));
    if (latest) {
      // The stored checkpoint must be ours and the stored hashes must
      // still produce it. Otherwise signing on would publish a checkpoint
      // inconsistent with the last one (a fork): refuse to start instead.
      auto opened = TRY(tlog::open_checkpoint(latest->text(2), origin_, verifier_));
      if (opened.checkpoint.size != static_cast<std::uint64_t>(latest->int64(0)) ||
          opened.checkpoint.root != to_hash(latest->blob(1)))
        return Error::internal("log: stored checkpoint row does not match its note");
      TransactionHashReader reader(transaction);
      auto root = TRY(tlog::tree_hash(reader, opened.checkpoint.size));
      if (root != opened.checkpoint.root)
        return Error::crypto("log: stored tree hashes do not match the last checkpoint");
      PublishedCheckpoint published{opened.checkpoint, latest->text(2), 0};
      if (config_.witness_quorum > 0) published = TRY(load_witnessed(transaction));
      std::lock_guard lock(state_mutex_);
      latest_ = {std::move(opened.checkpoint), latest->text(2), 0};
      published_ = std::move(published);
      return {};
    }
  }
  // A new log: publish the empty tree so that /checkpoint always answers.
  tlog::Checkpoint empty{origin_, 0, tlog::empty_tree_hash(), {}};
  std::string note = TRY(tlog::sign_checkpoint(empty, key_));
  TRY(database_.write([&](store::Transaction& transaction) -> ErrorOr<void> {
    TRY(transaction.execute(
        "INSERT INTO tlog_checkpoints (size, root, note, created_at) VALUES (0, ?, ?, ?)",
        {BytesView(empty.root), note, now()}));
    return {};
  }));
  std::lock_guard lock(state_mutex_);
  latest_ = {std::move(empty), std::move(note), 0};
  published_ = latest_;
  return {};
}

// With a quorum, what may be served is the last checkpoint the witnesses
// cosigned, or before any such the empty tree's (which needs none: there
// is nothing in it to hide).
ErrorOr<PublishedCheckpoint> Log::load_witnessed(store::Transaction& transaction) {
  auto row = TRY(transaction.query_row(
      "SELECT size, note, cosignatures FROM tlog_witnessed ORDER BY size DESC LIMIT 1"));
  if (!row) {
    auto empty = TRY(transaction.query_row("SELECT note FROM tlog_checkpoints WHERE size = 0"));
    if (!empty) return Error::internal("log: the empty checkpoint is missing");
    auto opened = TRY(tlog::open_checkpoint(empty->text(0), origin_, verifier_));
    return PublishedCheckpoint{std::move(opened.checkpoint), empty->text(0), 0};
  }
  auto opened = TRY(tlog::open_checkpoint(row->text(1), origin_, verifier_));
  auto root = TRY(tlog::tree_hash(TransactionHashReader(transaction), opened.checkpoint.size));
  if (root != opened.checkpoint.root) return Error::crypto("log: stored witnessed checkpoint does not match the tree");
  return PublishedCheckpoint{std::move(opened.checkpoint), row->text(1), static_cast<std::size_t>(row->int64(2))};
}

ErrorOr<std::uint64_t> Log::append(BytesView entry) {
  if (!valid_entry(entry)) return kEntrySize;
  std::uint64_t index = 0;
  TRY(database_.write([&](store::Transaction& transaction) -> ErrorOr<void> {
    index = TRY(insert_entry(transaction, entry));
    return {};
  }));
  return index;
}

void Log::append_async(Bytes entry, AppendDone done) {
  if (!valid_entry(entry)) {
    done(kEntrySize);
    return;
  }
  database_.write_async(std::make_unique<AppendRequest>(std::move(entry), std::move(done)));
}

ErrorOr<std::uint64_t> Log::integrate() {
  std::lock_guard integrating(integrate_mutex_);
  const tlog::Checkpoint old = latest_signed().checkpoint;

  // Filled by the last run of the write below (it may run more than once);
  // published only after the transaction committed.
  std::optional<PublishedCheckpoint> next;
  TRY(database_.write([&](store::Transaction& transaction) -> ErrorOr<void> {
    next.reset();
    const std::uint64_t limit = config_.max_integrate_batch;
    auto rows = TRY(transaction.query(
        "SELECT idx, data FROM tlog_entries WHERE idx >= ? ORDER BY idx LIMIT ?",
        {static_cast<std::int64_t>(old.size), static_cast<std::int64_t>(limit)}));
    if (rows.empty()) return {};

    std::vector<tlog::Hash> leaves;
    leaves.reserve(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      // Indices come from MAX + 1 under the write lock, so they are dense;
      // check anyway, because integrating across a gap would sign a tree
      // that no longer matches the indices handed to appenders.
      if (static_cast<std::uint64_t>(rows[i].int64(0)) != old.size + i)
        return Error::internal("log: entry indices are not contiguous");
      leaves.push_back(tlog::leaf_hash(rows[i].blob(1)));
    }

    TransactionHashReader reader(transaction);
    auto nodes = TRY(tlog::integrate(reader, old.size, leaves));
    for (const tlog::StoredNode& node : nodes) {
      TRY(transaction.execute("INSERT INTO tlog_nodes (level, idx, hash) VALUES (?, ?, ?)",
                              {node.node.level, static_cast<std::int64_t>(node.node.index),
                               BytesView(node.hash)}));
    }

    const std::uint64_t new_size = old.size + leaves.size();
    const tlog::Hash root = TRY(tlog::tree_hash(reader, new_size));
    // The check a witness would make, made before signing: the new tree
    // must extend the published one. It cannot fail unless the stored
    // hashes or this code are wrong, and then not signing is the point.
    auto proof = TRY(tlog::consistency_proof(reader, old.size, new_size));
    auto consistent = tlog::verify_consistency(old.size, new_size, old.root, root, proof);
    if (!consistent) return Error::internal("log: new tree is not consistent with the published one");

    tlog::Checkpoint checkpoint{origin_, new_size, root, {}};
    std::string note = TRY(tlog::sign_checkpoint(checkpoint, key_));
    TRY(transaction.execute(
        "INSERT INTO tlog_checkpoints (size, root, note, created_at) VALUES (?, ?, ?, ?)",
        {static_cast<std::int64_t>(new_size), BytesView(root), note, now()}));
    next = PublishedCheckpoint{std::move(checkpoint), std::move(note)};
    return {};
  }));
  if (!next) return old.size;
  std::lock_guard lock(state_mutex_);
  VERIFY(next->checkpoint.size > latest_.checkpoint.size);
  latest_ = std::move(*next);
  if (config_.witness_quorum == 0) published_ = latest_;
  return latest_.checkpoint.size;
}

ErrorOr<tlog::NoteSignature> Log::submit_to_witness(std::size_t witness, const PublishedCheckpoint& latest,
                                                    const std::string& text) {
  CheckpointWitness& target = *config_.witnesses[witness];
  // At most one resubmission: a witness that answers 409 twice in a row is
  // racing another submitter or misbehaving, and the next round retries.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const std::uint64_t old_size = witness_sizes_[witness];
    if (old_size > latest.checkpoint.size)
      return Error::crypto("witness has cosigned a larger tree than this log's latest checkpoint");
    tlog::AddCheckpointRequest request{old_size, {}, latest.note};
    {
      auto transaction = TRY(database_.begin_read());
      request.proof = TRY(tlog::consistency_proof(TransactionHashReader(transaction), old_size,
                                                  latest.checkpoint.size));
    }
    WitnessReply reply = TRY(target.add_checkpoint(request));
    if (reply.conflict_size) {
      witness_sizes_[witness] = *reply.conflict_size;
      continue;
    }
    // The spec: ignore lines by other keys, and check the witness's own
    // before serving them.
    std::optional<tlog::NoteSignature> valid;
    for (tlog::NoteSignature& line : reply.signatures) {
      if (line.name != target.key().name() || line.key_id != target.key().key_id()) continue;
      TRY(target.key().verify(text, line.signature));
      valid = std::move(line);
    }
    if (!valid) return Error::crypto("witness answered without a cosignature by its key");
    witness_sizes_[witness] = latest.checkpoint.size;
    return std::move(*valid);
  }
  return Error::crypto("witness answered 409 twice: its checkpoint moved or it disagrees with the log");
}

ErrorOr<std::size_t> Log::collect_cosignatures(
    const std::function<void(std::string_view witness, const Error&)>& on_witness_error) {
  // Not integrate_mutex_: a slow witness must not hold up integration.
  std::lock_guard cosigning(witness_mutex_);
  if (config_.witnesses.empty()) return std::size_t{0};
  const PublishedCheckpoint latest = latest_signed();
  const std::string text = TRY(tlog::format_checkpoint(latest.checkpoint));
  std::string note = latest.note;
  std::size_t count = 0;
  for (std::size_t i = 0; i < config_.witnesses.size(); ++i) {
    auto line = submit_to_witness(i, latest, text);
    if (!line) {
      if (on_witness_error) on_witness_error(config_.witnesses[i]->key().name(), line.error());
      continue;
    }
    note += tlog::format_signature_line(*line);
    ++count;
  }
  if (count == config_.witnesses.size()) cosigned_size_ = latest.checkpoint.size;
  if (count == 0 || count < config_.witness_quorum) return count;
  TRY(database_.write([&](store::Transaction& transaction) -> ErrorOr<void> {
    TRY(transaction.execute(
        "INSERT INTO tlog_witnessed (size, note, cosignatures, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (size) DO UPDATE SET note = excluded.note, cosignatures = excluded.cosignatures",
        {static_cast<std::int64_t>(latest.checkpoint.size), note, static_cast<std::int64_t>(count), now()}));
    return {};
  }));
  std::lock_guard lock(state_mutex_);
  if (latest.checkpoint.size > published_.checkpoint.size ||
      (latest.checkpoint.size == published_.checkpoint.size && count >= published_.cosignatures))
    published_ = PublishedCheckpoint{latest.checkpoint, std::move(note), count};
  return count;
}

ErrorOr<std::uint64_t> Log::integrate_all() {
  std::uint64_t size = this->size();
  for (;;) {
    std::uint64_t grown = TRY(integrate());
    if (grown == size) return size;
    size = grown;
  }
}

void Log::start(std::function<void(const Error&)> on_error,
                std::function<void(std::string_view, const Error&)> on_witness_error) {
  std::lock_guard guard(thread_mutex_);
  if (integrator_.joinable()) return;
  stopping_ = false;
  integrator_ = std::thread([this, on_error = std::move(on_error), on_witness_error = std::move(on_witness_error)] {
    std::unique_lock lock(thread_mutex_);
    while (!stopping_) {
      wake_.wait_for(lock, config_.integrate_interval, [this] { return stopping_; });
      if (stopping_) break;
      lock.unlock();
      auto result = integrate_all();
      if (!result && on_error) on_error(result.error());
      if (result && cosigning_pending()) {
        auto cosigned = collect_cosignatures(on_witness_error);
        if (!cosigned && on_error) on_error(cosigned.error());
      }
      lock.lock();
    }
  });
}

void Log::stop() {
  std::thread thread;
  {
    std::lock_guard lock(thread_mutex_);
    stopping_ = true;
    thread = std::move(integrator_);
  }
  wake_.notify_all();
  if (thread.joinable()) thread.join();
}

PublishedCheckpoint Log::checkpoint() const {
  std::lock_guard lock(state_mutex_);
  return published_;
}

bool Log::cosigning_pending() {
  if (config_.witnesses.empty()) return false;
  std::lock_guard cosigning(witness_mutex_);
  return cosigned_size_ != size();
}

PublishedCheckpoint Log::latest_signed() const {
  std::lock_guard lock(state_mutex_);
  return latest_;
}

std::uint64_t Log::size() const {
  std::lock_guard lock(state_mutex_);
  return latest_.checkpoint.size;
}

ErrorOr<Bytes> Log::read_tile(const tlog::TileId& tile) const {
  std::uint64_t start = 0, end = 0;
  if (!tile_range(tile, start, end)) return kNotIntegrated;
  // Level-L tiles hold tree level 8L; anything above level 63 of the tree
  // cannot exist in a log of fewer than 2^63 entries.
  const unsigned level = unsigned{tile.level} * tlog::kTileHeight;
  if (level > 63) return kNotIntegrated;
  auto transaction = TRY(database_.begin_read());
  auto rows = TRY(transaction.query(
      "SELECT hash FROM tlog_nodes WHERE level = ? AND idx >= ? AND idx < ? ORDER BY idx",
      {level, static_cast<std::int64_t>(start), static_cast<std::int64_t>(end)}));
  if (rows.size() != tile.width) return kNotIntegrated;
  Bytes out;
  out.reserve(rows.size() * sizeof(tlog::Hash));
  for (store::Row& row : rows) {
    Bytes hash = row.take_blob(0);
    if (hash.size() != sizeof(tlog::Hash)) return Error::internal("log: stored hash has the wrong size");
    pmos::append(out, hash);
  }
  return out;
}

ErrorOr<Bytes> Log::read_entry_bundle(const tlog::TileId& tile) const {
  std::uint64_t start = 0, end = 0;
  if (tile.level != 0 || !tile_range(tile, start, end)) return kNotIntegrated;
  if (end > size()) return kNotIntegrated;
  auto transaction = TRY(database_.begin_read());
  auto rows = TRY(transaction.query(
      "SELECT data FROM tlog_entries WHERE idx >= ? AND idx < ? ORDER BY idx",
      {static_cast<std::int64_t>(start), static_cast<std::int64_t>(end)}));
  if (rows.size() != tile.width) return Error::internal("log: integrated entries are missing");
  std::vector<Bytes> entries;
  entries.reserve(rows.size());
  for (store::Row& row : rows) entries.push_back(row.take_blob(0));
  return tlog::encode_entry_bundle(entries);
}

ErrorOr<Bytes> Log::read_entry(std::uint64_t index) const {
  if (index >= size()) return kNotIntegrated;
  auto transaction = TRY(database_.begin_read());
  auto row = TRY(transaction.query_row("SELECT data FROM tlog_entries WHERE idx = ?",
                                       {static_cast<std::int64_t>(index)}));
  if (!row) return Error::internal("log: an integrated entry is missing");
  return row->take_blob(0);
}

}  // namespace pmos::tlogd

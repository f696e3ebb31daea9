// The SQLite back end: one sqlite3 handle per Connection, opened in
// multi-thread mode (SQLITE_OPEN_NOMUTEX) because the pool already gives each
// connection to one thread at a time.

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <string>

#include "connection.h"
#include "pmos/base/file.h"
#include "pmos/base/openssl_ptr.h"  // FnDeleter

namespace pmos::store::detail {
namespace {

using SqlitePtr = std::unique_ptr<sqlite3, FnDeleter<sqlite3_close_v2>>;
using StatementPtr = std::unique_ptr<sqlite3_stmt, FnDeleter<sqlite3_finalize>>;

// Resets a statement when the call that stepped it returns, on every path:
// a statement left mid-result keeps its read transaction (and, in WAL mode,
// its snapshot) open, which would stall checkpoints.
struct StatementReset {
  sqlite3_stmt* statement;
  ~StatementReset() {
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
  }
};

Error error_for(sqlite3* db, int code) {
  set_error_detail(sqlite3_errmsg(db));
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return kDatabaseBusy;
    case SQLITE_CONSTRAINT:
      return kConstraintViolation;
    default:
      return kDatabaseError;
  }
}

// Flushes a WAL file through a descriptor of its own. SQLite replaces the
// WAL file only after checkpointing all of it into the database and syncing
// that, and only when its last connection closes (the writer's stays open);
// a flush that finds another file at the path syncs the new one.
class WalFlusher final : public Flusher {
 public:
  static ErrorOr<std::unique_ptr<WalFlusher>> open(std::string path) {
    std::unique_ptr<WalFlusher> flusher(new WalFlusher(std::move(path)));
    TRY(flusher->reopen());
    return flusher;
  }

  ErrorOr<void> flush() override {
    struct stat now {};
    if (::stat(path_.c_str(), &now) != 0) return Error::system("sqlite: stat of the WAL file", errno);
    if (now.st_ino != inode_ || now.st_dev != device_) TRY(reopen());
    if (::fdatasync(fd_.get()) != 0) return Error::system("sqlite: fdatasync of the WAL file", errno);
    return {};
  }

 private:
  explicit WalFlusher(std::string path) : path_(std::move(path)) {}

  ErrorOr<void> reopen() {
    fd_ = TRY(open_file(path_, O_RDONLY | O_CLOEXEC));
    struct stat opened {};
    if (::fstat(fd_.get(), &opened) != 0) return Error::system("sqlite: fstat of the WAL file", errno);
    inode_ = opened.st_ino;
    device_ = opened.st_dev;
    // A new WAL file's name must be durable as well as its contents.
    std::string directory = path_.substr(0, path_.find_last_of('/') + 1);
    UniqueFd dir = TRY(open_file(directory.empty() ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (::fsync(dir.get()) != 0) return Error::system("sqlite: fsync of the database directory", errno);
    return {};
  }

  std::string path_;
  UniqueFd fd_;
  ino_t inode_ = 0;
  dev_t device_ = 0;
};

class SqliteConnection final : public Connection {
 public:
  explicit SqliteConnection(SqlitePtr db) : db_(std::move(db)) {}

  Backend backend() const override { return Backend::kSqlite; }

  ErrorOr<void> begin(bool write) override {
    // IMMEDIATE takes the write lock up front (waiting up to busy_timeout);
    // a deferred transaction that reads and then writes can fail with BUSY
    // without the busy handler ever being called.
    return execute_script(write ? "BEGIN IMMEDIATE" : "BEGIN");
  }
  ErrorOr<void> commit() override { return execute_script("COMMIT"); }
  void rollback() override {
    // Fails only if no transaction is open (SQLite rolled it back itself
    // after an I/O error or a full disk): nothing left to undo.
    (void)execute_script("ROLLBACK");
  }

  ErrorOr<std::int64_t> execute(std::string_view sql, std::span<const Param> params,
                                std::vector<Row>* rows) override {
    sqlite3_stmt* statement = TRY(prepare(sql));
    StatementReset reset{statement};
    if (static_cast<std::size_t>(sqlite3_bind_parameter_count(statement)) != params.size()) {
      set_error_detail("parameter count does not match the statement");
      return Error::invalid_argument("wrong number of statement parameters");
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
      TRY(bind(statement, static_cast<int>(i + 1), params[i]));
    }
    for (;;) {
      int code = sqlite3_step(statement);
      if (code == SQLITE_DONE) break;
      if (code != SQLITE_ROW) return error_for(db_.get(), code);
      if (rows != nullptr) rows->push_back(read_row(statement));
    }
    return static_cast<std::int64_t>(sqlite3_changes64(db_.get()));
  }

  ErrorOr<std::unique_ptr<Flusher>> defer_flush() override {
    const char* filename = sqlite3_db_filename(db_.get(), "main");
    // A temporary or in-memory database has no file to flush.
    if (filename == nullptr || *filename == '\0') return std::unique_ptr<Flusher>();
    // A read opens (and if need be creates) the WAL file before we open it.
    std::vector<Row> rows;
    TRY(execute("PRAGMA journal_mode", {}, &rows));
    if (rows.size() != 1 || rows[0].text(0) != "wal") return std::unique_ptr<Flusher>();
    TRY(execute("SELECT COUNT(*) FROM sqlite_schema", {}, &rows));
    std::unique_ptr<Flusher> flusher = TRY(WalFlusher::open(sqlite3_filename_wal(filename)));
    // Only now: NORMAL syncs the WAL at checkpoints, not at each COMMIT;
    // the flusher does the rest.
    TRY(execute_script("PRAGMA synchronous=NORMAL"));
    // The writer's checkpoints stall it (two fsyncs each): ten times fewer,
    // and a page changed many times in between is copied once.
    TRY(execute_script("PRAGMA wal_autocheckpoint=10000; PRAGMA cache_size=-32768"));
    return flusher;
  }

  ErrorOr<void> execute_script(std::string_view sql) override {
    std::string text(translate_sql(Backend::kSqlite, sql));
    int code = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, nullptr);
    if (code != SQLITE_OK) return error_for(db_.get(), code);
    return {};
  }

 private:
  ErrorOr<sqlite3_stmt*> prepare(std::string_view sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second.get();
    std::string text = translate_sql(Backend::kSqlite, sql);
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    int code = sqlite3_prepare_v3(db_.get(), text.c_str(), static_cast<int>(text.size()),
                                  SQLITE_PREPARE_PERSISTENT, &raw, &tail);
    StatementPtr statement(raw);
    if (code != SQLITE_OK) return error_for(db_.get(), code);
    if (statement == nullptr || (tail != nullptr && *tail != '\0')) {
      set_error_detail("expected exactly one SQL statement");
      return Error::invalid_argument("expected exactly one SQL statement");
    }
    return statements_.emplace(std::string(sql), std::move(statement)).first->second.get();
  }

  ErrorOr<void> bind(sqlite3_stmt* statement, int index, const Param& param) {
    int code = SQLITE_OK;
    switch (param.kind()) {
      case Param::Kind::kNull:
        code = sqlite3_bind_null(statement, index);
        break;
      case Param::Kind::kInt64:
        code = sqlite3_bind_int64(statement, index, param.int64());
        break;
      case Param::Kind::kText: {
        // A null pointer would bind NULL, not the empty string.
        std::string_view text = param.text();
        code = sqlite3_bind_text64(statement, index, text.empty() ? "" : text.data(), text.size(),
                                   SQLITE_STATIC, SQLITE_UTF8);
        break;
      }
      case Param::Kind::kBlob: {
        BytesView blob = param.blob();
        // Likewise: an empty blob must stay a blob, not become NULL.
        code = blob.empty() ? sqlite3_bind_zeroblob(statement, index, 0)
                            : sqlite3_bind_blob64(statement, index, blob.data(), blob.size(), SQLITE_STATIC);
        break;
      }
    }
    if (code != SQLITE_OK) return error_for(db_.get(), code);
    return {};
  }

  static Row read_row(sqlite3_stmt* statement) {
    int count = sqlite3_column_count(statement);
    std::vector<Value> columns;
    columns.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
      switch (sqlite3_column_type(statement, i)) {
        case SQLITE_NULL:
          columns.emplace_back(std::monostate{});
          break;
        case SQLITE_INTEGER:
          columns.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(statement, i)));
          break;
        case SQLITE_TEXT: {
          auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, i));
          columns.emplace_back(std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(statement, i))));
          break;
        }
        case SQLITE_BLOB: {
          auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(statement, i));
          auto size = static_cast<std::size_t>(sqlite3_column_bytes(statement, i));
          columns.emplace_back(data == nullptr ? Bytes{} : Bytes(data, data + size));
          break;
        }
        default:
          // REAL: no PMOS schema stores one. Read it as its integer part
          // rather than losing the row.
          columns.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(statement, i)));
          break;
      }
    }
    return Row(std::move(columns));
  }

  SqlitePtr db_;
  // Keyed by the untranslated text; std::less<> finds by string_view.
  std::map<std::string, StatementPtr, std::less<>> statements_;
};

}  // namespace

ErrorOr<std::unique_ptr<Connection>> open_sqlite(const DatabaseConfig& config) {
  // Debian's SQLite counts every allocation under a global mutex (memory
  // statistics, which PMOS never reads) and has no lookaside allocator, so
  // the writer took and released that mutex several times per statement.
  // Only possible before SQLite initializes; if something in the process
  // initialized it first, the call fails harmlessly and the counting stays.
  static const int memstatus_off = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)memstatus_off;
  sqlite3* raw = nullptr;
  int code = sqlite3_open_v2(config.location.c_str(), &raw,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  SqlitePtr db(raw);
  if (code != SQLITE_OK) {
    if (db == nullptr) {
      set_error_detail("sqlite3_open_v2: out of memory");
      return kDatabaseError;
    }
    return error_for(db.get(), code);
  }
  sqlite3_extended_result_codes(db.get(), 1);
  code = sqlite3_busy_timeout(db.get(), static_cast<int>(config.busy_timeout.count()));
  if (code != SQLITE_OK) return error_for(db.get(), code);

  auto connection = std::make_unique<SqliteConnection>(std::move(db));
  // WAL: readers keep a snapshot and never block the one writer.
  // synchronous=FULL: in WAL mode every COMMIT fsyncs the WAL before it
  // returns. NORMAL would fsync only at checkpoints, so a commit we acked
  // could vanish with a power loss (not with a process crash: the WAL is
  // already in the page cache). An ack promises durability, so FULL; group
  // commit is what pays for the fsync.
  // foreign_keys: SQLite leaves them off unless asked, per connection.
  std::vector<Row> rows;
  TRY(connection->execute("PRAGMA journal_mode=WAL", {}, &rows));
  if (rows.size() != 1 || rows[0].text(0) != "wal") {
    set_error_detail("the database refused journal_mode=WAL");
    return kDatabaseError;
  }
  TRY(connection->execute_script("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  return std::unique_ptr<Connection>(std::move(connection));
}

}  // namespace pmos::store::detail

#include "pmos/chat/store.h"

// SQLCipher's sqlite3.h declares sqlite3_key only with SQLITE_HAS_CODEC.
#define SQLITE_HAS_CODEC 1
#include <sqlcipher/sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "pmos/base/codec.h"
#include "pmos/base/file.h"
#include "pmos/crypto/random.h"

namespace pmos::chat {

namespace {

constexpr std::string_view kSaltMagic = "PMOSCHS1";
constexpr std::size_t kSaltSize = 16;

// chat.salt: magic, Argon2id parameters, salt. Not secret: an attacker with
// the disk has it anyway; it only makes a precomputed passcode table useless.
struct SaltFile {
  crypto::Argon2Params params;
  Bytes salt;
};

Bytes encode_salt(const SaltFile& s) {
  tls::Writer w;
  w.raw(as_bytes(kSaltMagic));
  w.u32(s.params.passes);
  w.u32(s.params.memory_kib);
  w.u32(s.params.parallelism);
  w.raw(s.salt);
  return std::move(w).take();
}

ErrorOr<SaltFile> decode_salt(BytesView data) {
  tls::Reader r(data);
  BytesView magic = TRY(r.raw(kSaltMagic.size()));
  if (as_string(magic) != kSaltMagic) return Error::decode("chat.salt is not a PMOS chat salt file");
  SaltFile s;
  s.params.passes = TRY(r.u32());
  s.params.memory_kib = TRY(r.u32());
  s.params.parallelism = TRY(r.u32());
  s.salt = to_bytes(TRY(r.raw(kSaltSize)));
  TRY(r.finish());
  return s;
}

const char* const kSchema = R"sql(
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS key_packages (ref BLOB PRIMARY KEY, bundle BLOB NOT NULL, last_resort INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (
  group_id BLOB PRIMARY KEY, name TEXT NOT NULL, disappear_s INTEGER NOT NULL, status TEXT NOT NULL,
  created_ms INTEGER NOT NULL, last_commit_ms INTEGER NOT NULL, leaving INTEGER NOT NULL,
  state BLOB, previous_state BLOB);
CREATE TABLE IF NOT EXISTS messages (
  id BLOB PRIMARY KEY, group_id BLOB NOT NULL, sender_user TEXT NOT NULL, sender_device TEXT NOT NULL,
  sent_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL, kind INTEGER NOT NULL, text TEXT NOT NULL,
  reply_to BLOB NOT NULL, attachment BLOB NOT NULL, edited INTEGER NOT NULL, deleted INTEGER NOT NULL,
  outgoing INTEGER NOT NULL, read INTEGER NOT NULL, expires_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_group ON messages (group_id, received_ms);
CREATE TABLE IF NOT EXISTS receipts (id BLOB NOT NULL, device TEXT NOT NULL, read INTEGER NOT NULL,
  PRIMARY KEY (id, device, read));
CREATE TABLE IF NOT EXISTS outbox (client_message_id BLOB PRIMARY KEY, group_id BLOB NOT NULL,
  envelope BLOB NOT NULL, mls BLOB NOT NULL, epoch INTEGER NOT NULL, created_rowid INTEGER);
)sql";

// One prepared statement; binds by position from 1, steps, reads columns.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  Statement& bind(BytesView blob) {
    // An empty blob with a null pointer would bind NULL; the schema wants NOT NULL.
    static const std::uint8_t kEmpty = 0;
    sqlite3_bind_blob(stmt_, ++index_, blob.empty() ? &kEmpty : blob.data(), static_cast<int>(blob.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(std::string_view text) {
    sqlite3_bind_text(stmt_, ++index_, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(std::int64_t v) {
    sqlite3_bind_int64(stmt_, ++index_, v);
    return *this;
  }
  Statement& bind_null() {
    sqlite3_bind_null(stmt_, ++index_);
    return *this;
  }
  // SQLITE_ROW: true; SQLITE_DONE: false.
  ErrorOr<bool> step() {
    if (stmt_ == nullptr) return Error::internal("chat store: statement failed to prepare");
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    if (rc == SQLITE_NOTADB) return Error::crypto("wrong passcode (or the chat store is damaged)");
    if (rc == SQLITE_FULL) return Error::system("chat store write", ENOSPC);
    return Error::internal("chat store: a statement failed");
  }
  ErrorOr<void> run() {
    TRY(step());
    return {};
  }
  Bytes blob(int column) const {
    const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, column));
    int size = sqlite3_column_bytes(stmt_, column);
    return data == nullptr ? Bytes() : Bytes(data, data + size);
  }
  SecretBytes secret(int column) const {
    const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, column));
    int size = sqlite3_column_bytes(stmt_, column);
    return data == nullptr ? SecretBytes() : SecretBytes::copy_of(BytesView(data, static_cast<std::size_t>(size)));
  }
  std::string text(int column) const {
    const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return data == nullptr ? std::string() : std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
  }
  std::int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
  bool is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int index_ = 0;
};

ErrorOr<void> exec(sqlite3* db, const char* sql) {
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc == SQLITE_OK) return {};
  if (rc == SQLITE_NOTADB) return Error::crypto("wrong passcode (or the chat store is damaged)");
  return Error::internal("chat store: statement failed");
}

const char* const kMessageColumns =
    "id, group_id, sender_user, sender_device, sent_ms, received_ms, kind, text, reply_to, attachment, edited, "
    "deleted, outgoing, read, expires_ms";

}  // namespace

struct Store::Impl {
  sqlite3* db = nullptr;
  ~Impl() {
    if (db != nullptr) sqlite3_close_v2(db);
  }

  ErrorOr<MessageRow> read_message(Statement& s) {
    MessageRow m;
    m.id = s.blob(0);
    m.group_id = s.blob(1);
    m.sender_user = s.text(2);
    m.sender_device = s.text(3);
    m.sent_ms = s.integer(4);
    m.received_ms = s.integer(5);
    m.kind = static_cast<std::uint8_t>(s.integer(6));
    m.text = s.text(7);
    m.reply_to = s.blob(8);
    m.attachment = s.blob(9);
    m.edited = s.integer(10) != 0;
    m.deleted = s.integer(11) != 0;
    m.outgoing = s.integer(12) != 0;
    m.read = s.integer(13) != 0;
    m.expires_ms = s.integer(14);
    Statement r(db, "SELECT device, read FROM receipts WHERE id = ? ORDER BY device");
    r.bind(m.id);
    while (TRY(r.step())) (r.integer(1) ? m.read_by : m.delivered_to).push_back(r.text(0));
    return m;
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

std::vector<std::string> Store::files(const std::string& dir) {
  std::vector<std::string> out;
  for (const char* name : {"chat.db", "chat.db-wal", "chat.db-shm", "chat.db-journal", "chat.salt"}) {
    std::string path = dir + "/" + name;
    if (std::filesystem::exists(path)) out.push_back(path);
  }
  return out;
}

ErrorOr<std::unique_ptr<Store>> Store::open(const std::string& dir, std::string_view passcode, bool create,
                                            const crypto::Argon2Params& params) {
  std::string db_path = dir + "/chat.db";
  std::string salt_path = dir + "/chat.salt";
  bool exists = std::filesystem::exists(db_path);
  SaltFile salt;
  if (exists) {
    auto bytes = read_file(salt_path, 4096);
    if (!bytes) return Error::not_found("the chat store's chat.salt is missing");
    salt = TRY(decode_salt(*bytes));
  } else {
    if (!create) return Error::not_found("no chat store here (enroll this device first)");
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Error::system("create profile directory", ec.value());
    ::chmod(dir.c_str(), 0700);
    salt.params = params;
    salt.salt = crypto::random_bytes(kSaltSize);
    TRY(write_file_atomic(salt_path, encode_salt(salt), 0600));
  }
  if (passcode.empty()) return Error::invalid_argument("the passcode is empty");
  SecretBytes key = TRY(crypto::argon2id(as_bytes(passcode), salt.salt, salt.params, 32));

  auto impl = std::make_unique<Impl>();
  // The file is created 0600 through the umask we set around the open.
  mode_t old = ::umask(077);
  int rc = sqlite3_open_v2(db_path.c_str(), &impl->db, SQLITE_OPEN_READWRITE | (exists ? 0 : SQLITE_OPEN_CREATE),
                           nullptr);
  ::umask(old);
  if (rc != SQLITE_OK) return Error::system("open chat store", EIO);
  // A raw key (x'...') skips SQLCipher's own PBKDF2: Argon2id already did
  // the stretching.
  static constexpr char kHex[] = "0123456789abcdef";
  SecretBytes literal(3 + 64 + 1);
  auto out = literal.mutable_view();
  out[0] = 'x';
  out[1] = '\'';
  for (std::size_t i = 0; i < 32; ++i) {
    out[2 + 2 * i] = static_cast<std::uint8_t>(kHex[key.view()[i] >> 4]);
    out[3 + 2 * i] = static_cast<std::uint8_t>(kHex[key.view()[i] & 15]);
  }
  out[66] = '\'';
  out[67] = 0;
  if (sqlite3_key(impl->db, literal.data(), 67) != SQLITE_OK) return Error::internal("chat store: cannot set the key");
  {
    // Plain SQLite answers this pragma with no row. libsqlite3 can be loaded
    // beside SQLCipher in one process (Botan depends on it); if its symbols
    // ever won, the store would be written in the clear: refuse instead.
    Statement cipher(impl->db, "PRAGMA cipher_version;");
    auto row = cipher.step();
    if (!row || !*row || cipher.text(0).empty())
      return Error::internal("chat store: SQLCipher is not active in this process; refusing to store in the clear");
  }
  // The first read tells a wrong key (SQLITE_NOTADB) from a good one.
  TRY(exec(impl->db, "SELECT count(*) FROM sqlite_master;"));
  // Temporary tables and indices in memory only: SQLCipher's temp files
  // would be encrypted too, but memory leaves nothing behind at all.
  TRY(exec(impl->db, "PRAGMA temp_store = MEMORY; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"));
  sqlite3_busy_timeout(impl->db, 5000);
  TRY(exec(impl->db, kSchema));
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

ErrorOr<void> Store::begin() { return exec(impl_->db, "BEGIN IMMEDIATE;"); }
ErrorOr<void> Store::commit() { return exec(impl_->db, "COMMIT;"); }
void Store::rollback() { (void)exec(impl_->db, "ROLLBACK;"); }

ErrorOr<void> Store::set(std::string_view key, BytesView value) {
  // SQLCipher 3.4 is SQLite 3.15: no upsert, but a settings row has nothing else to keep.
  Statement s(impl_->db, "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)");
  s.bind(key).bind(value);
  return s.run();
}

ErrorOr<std::optional<Bytes>> Store::get(std::string_view key) {
  Statement s(impl_->db, "SELECT value FROM settings WHERE key = ?");
  s.bind(key);
  if (!TRY(s.step())) return std::optional<Bytes>();
  return std::optional<Bytes>(s.blob(0));
}

ErrorOr<std::optional<SecretBytes>> Store::get_secret(std::string_view key) {
  Statement s(impl_->db, "SELECT value FROM settings WHERE key = ?");
  s.bind(key);
  if (!TRY(s.step())) return std::optional<SecretBytes>();
  return std::optional<SecretBytes>(s.secret(0));
}

ErrorOr<void> Store::put_key_package(BytesView ref, BytesView bundle, bool last_resort) {
  Statement s(impl_->db, "INSERT OR REPLACE INTO key_packages (ref, bundle, last_resort) VALUES (?, ?, ?)");
  s.bind(ref).bind(bundle).bind(std::int64_t{last_resort});
  return s.run();
}

ErrorOr<std::optional<SecretBytes>> Store::key_package(BytesView ref) {
  Statement s(impl_->db, "SELECT bundle FROM key_packages WHERE ref = ?");
  s.bind(ref);
  if (!TRY(s.step())) return std::optional<SecretBytes>();
  return std::optional<SecretBytes>(s.secret(0));
}

ErrorOr<void> Store::delete_key_package(BytesView ref) {
  // The last-resort package stays: RFC 9420 §16.8 lets it be reused.
  Statement s(impl_->db, "DELETE FROM key_packages WHERE ref = ? AND last_resort = 0");
  s.bind(ref);
  return s.run();
}

ErrorOr<std::size_t> Store::count_key_packages() {
  Statement s(impl_->db, "SELECT count(*) FROM key_packages WHERE last_resort = 0");
  TRY(s.step());
  return static_cast<std::size_t>(s.integer(0));
}

ErrorOr<void> Store::put_conversation(const ConversationRow& row) {
  // Update first (keeping the state columns), insert if there was nothing.
  Statement u(impl_->db,
              "UPDATE conversations SET name = ?, disappear_s = ?, status = ?, last_commit_ms = ?, leaving = ? "
              "WHERE group_id = ?");
  u.bind(row.name).bind(std::int64_t{row.disappear_s}).bind(row.status).bind(row.last_commit_ms)
      .bind(std::int64_t{row.leaving}).bind(row.group_id);
  TRY(u.run());
  if (sqlite3_changes(impl_->db) == 1) return {};
  Statement s(impl_->db,
              "INSERT INTO conversations (group_id, name, disappear_s, status, created_ms, last_commit_ms, leaving) "
              "VALUES (?, ?, ?, ?, ?, ?, ?)");
  s.bind(row.group_id).bind(row.name).bind(std::int64_t{row.disappear_s}).bind(row.status).bind(row.created_ms)
      .bind(row.last_commit_ms).bind(std::int64_t{row.leaving});
  return s.run();
}

namespace {
ConversationRow read_conversation(Statement& s) {
  ConversationRow c;
  c.group_id = s.blob(0);
  c.name = s.text(1);
  c.disappear_s = static_cast<std::uint32_t>(s.integer(2));
  c.status = s.text(3);
  c.created_ms = s.integer(4);
  c.last_commit_ms = s.integer(5);
  c.leaving = s.integer(6) != 0;
  return c;
}
constexpr const char* kConversationColumns =
    "SELECT group_id, name, disappear_s, status, created_ms, last_commit_ms, leaving FROM conversations";
}  // namespace

ErrorOr<std::optional<ConversationRow>> Store::conversation(BytesView group_id) {
  Statement s(impl_->db, (std::string(kConversationColumns) + " WHERE group_id = ?").c_str());
  s.bind(group_id);
  if (!TRY(s.step())) return std::optional<ConversationRow>();
  return std::optional<ConversationRow>(read_conversation(s));
}

ErrorOr<std::vector<ConversationRow>> Store::conversations() {
  Statement s(impl_->db, (std::string(kConversationColumns) + " ORDER BY created_ms, group_id").c_str());
  std::vector<ConversationRow> out;
  while (TRY(s.step())) out.push_back(read_conversation(s));
  return out;
}

namespace {
ErrorOr<void> update_state(sqlite3* db, const char* sql, BytesView group_id, std::optional<BytesView> state) {
  Statement s(db, sql);
  if (state) s.bind(*state);
  s.bind(group_id);
  TRY(s.run());
  if (sqlite3_changes(db) != 1) return Error::not_found("no such conversation");
  return {};
}
}  // namespace

ErrorOr<void> Store::put_group_state(BytesView group_id, BytesView state) {
  return update_state(impl_->db, "UPDATE conversations SET state = ? WHERE group_id = ?", group_id, state);
}

ErrorOr<void> Store::put_previous_state(BytesView group_id, BytesView state) {
  return update_state(impl_->db, "UPDATE conversations SET previous_state = ? WHERE group_id = ?", group_id, state);
}

ErrorOr<void> Store::advance_group_state(BytesView group_id, BytesView next) {
  // SQLite evaluates every right-hand side on the old row.
  return update_state(impl_->db, "UPDATE conversations SET previous_state = state, state = ? WHERE group_id = ?",
                      group_id, next);
}

ErrorOr<void> Store::clear_group_state(BytesView group_id) {
  return update_state(impl_->db, "UPDATE conversations SET previous_state = NULL, state = NULL WHERE group_id = ?",
                      group_id, std::nullopt);
}

ErrorOr<std::optional<SecretBytes>> Store::group_state(BytesView group_id, bool previous) {
  Statement s(impl_->db, previous ? "SELECT previous_state FROM conversations WHERE group_id = ?"
                                  : "SELECT state FROM conversations WHERE group_id = ?");
  s.bind(group_id);
  if (!TRY(s.step()) || s.is_null(0)) return std::optional<SecretBytes>();
  return std::optional<SecretBytes>(s.secret(0));
}

ErrorOr<bool> Store::insert_message(const MessageRow& m) {
  Statement s(impl_->db,
              "INSERT OR IGNORE INTO messages (id, group_id, sender_user, sender_device, sent_ms, received_ms, kind, "
              "text, reply_to, attachment, edited, deleted, outgoing, read, expires_ms) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  s.bind(m.id).bind(m.group_id).bind(m.sender_user).bind(m.sender_device).bind(m.sent_ms).bind(m.received_ms)
      .bind(std::int64_t{m.kind}).bind(m.text).bind(m.reply_to).bind(m.attachment).bind(std::int64_t{m.edited})
      .bind(std::int64_t{m.deleted}).bind(std::int64_t{m.outgoing}).bind(std::int64_t{m.read}).bind(m.expires_ms);
  TRY(s.run());
  return sqlite3_changes(impl_->db) == 1;
}

ErrorOr<std::optional<MessageRow>> Store::message(BytesView id) {
  Statement s(impl_->db, (std::string("SELECT ") + kMessageColumns + " FROM messages WHERE id = ?").c_str());
  s.bind(id);
  if (!TRY(s.step())) return std::optional<MessageRow>();
  return std::optional<MessageRow>(TRY(impl_->read_message(s)));
}

ErrorOr<std::vector<MessageRow>> Store::messages(BytesView group_id, std::size_t limit) {
  // The newest `limit`, oldest first.
  Statement s(impl_->db, (std::string("SELECT * FROM (SELECT ") + kMessageColumns +
                          ", rowid AS r FROM messages WHERE group_id = ? ORDER BY received_ms DESC, r DESC LIMIT ?) "
                          "ORDER BY received_ms, r")
                             .c_str());
  s.bind(group_id).bind(static_cast<std::int64_t>(limit));
  std::vector<MessageRow> out;
  while (TRY(s.step())) out.push_back(TRY(impl_->read_message(s)));
  return out;
}

ErrorOr<void> Store::update_message(const MessageRow& m) {
  Statement s(impl_->db,
              "UPDATE messages SET text = ?, attachment = ?, edited = ?, deleted = ?, read = ?, expires_ms = ? "
              "WHERE id = ?");
  s.bind(m.text).bind(m.attachment).bind(std::int64_t{m.edited}).bind(std::int64_t{m.deleted})
      .bind(std::int64_t{m.read}).bind(m.expires_ms).bind(m.id);
  return s.run();
}

ErrorOr<void> Store::add_receipt(BytesView id, std::string_view device, bool read) {
  Statement s(impl_->db, "INSERT OR IGNORE INTO receipts (id, device, read) VALUES (?, ?, ?)");
  s.bind(id).bind(device).bind(std::int64_t{read});
  return s.run();
}

ErrorOr<std::size_t> Store::delete_expired(std::int64_t now_ms) {
  Statement r(impl_->db,
              "DELETE FROM receipts WHERE id IN (SELECT id FROM messages WHERE expires_ms > 0 AND expires_ms <= ?)");
  r.bind(now_ms);
  TRY(r.run());
  Statement s(impl_->db, "DELETE FROM messages WHERE expires_ms > 0 AND expires_ms <= ?");
  s.bind(now_ms);
  TRY(s.run());
  return static_cast<std::size_t>(sqlite3_changes(impl_->db));
}

ErrorOr<void> Store::delete_message(BytesView id) {
  Statement r(impl_->db, "DELETE FROM receipts WHERE id = ?");
  r.bind(id);
  TRY(r.run());
  Statement s(impl_->db, "DELETE FROM messages WHERE id = ?");
  s.bind(id);
  return s.run();
}

ErrorOr<void> Store::put_outbox(const OutboxRow& row) {
  Statement u(impl_->db, "UPDATE outbox SET mls = ?, epoch = ? WHERE client_message_id = ?");
  u.bind(row.mls).bind(static_cast<std::int64_t>(row.epoch)).bind(row.client_message_id);
  TRY(u.run());
  if (sqlite3_changes(impl_->db) == 1) return {};
  Statement s(impl_->db,
              "INSERT INTO outbox (client_message_id, group_id, envelope, mls, epoch, created_rowid) "
              "VALUES (?, ?, ?, ?, ?, (SELECT coalesce(max(created_rowid), 0) + 1 FROM outbox))");
  s.bind(row.client_message_id).bind(row.group_id).bind(row.envelope).bind(row.mls)
      .bind(static_cast<std::int64_t>(row.epoch));
  return s.run();
}

ErrorOr<std::vector<OutboxRow>> Store::outbox() {
  Statement s(impl_->db, "SELECT client_message_id, group_id, envelope, mls, epoch FROM outbox ORDER BY created_rowid");
  std::vector<OutboxRow> out;
  while (TRY(s.step())) {
    out.push_back({s.blob(0), s.blob(1), s.blob(2), s.blob(3), static_cast<std::uint64_t>(s.integer(4))});
  }
  return out;
}

ErrorOr<void> Store::delete_outbox(BytesView client_message_id) {
  Statement s(impl_->db, "DELETE FROM outbox WHERE client_message_id = ?");
  s.bind(client_message_id);
  return s.run();
}

}  // namespace pmos::chat

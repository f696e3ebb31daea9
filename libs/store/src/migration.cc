#include "pmos/store/migration.h"

#include <algorithm>
#include <chrono>

namespace pmos::store {
namespace {

constexpr std::string_view kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version BIGINT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at BIGINT NOT NULL)";

// Any constant will do, as long as every PMOS program uses the same one for
// the same purpose.
constexpr std::int64_t kMigrationLockKey = 0x504d4f5353544f52;  // "PMOSSTOR"

// Serializes migrators and makes sure the bookkeeping table exists; in the
// transaction `transaction`.
ErrorOr<void> lock_and_prepare(Transaction& transaction) {
  if (transaction.backend() == Backend::kPostgres) {
    // Two processes starting at once would otherwise race on CREATE TABLE
    // IF NOT EXISTS (which is not atomic in PostgreSQL) and on applying the
    // same step. The lock ends with the transaction. SQLite needs none:
    // BEGIN IMMEDIATE already holds its only write lock.
    TRY(transaction.execute("SELECT pg_advisory_xact_lock(?)", {kMigrationLockKey}));
  }
  TRY(transaction.execute_script(kCreateMigrationsTable));
  return {};
}

ErrorOr<std::int64_t> current_version(Transaction& transaction, std::span<const Migration> migrations) {
  std::vector<Row> rows = TRY(transaction.query("SELECT version, name FROM schema_migrations ORDER BY version"));
  std::int64_t version = 0;
  for (const Row& row : rows) {
    version = row.int64(0);
    auto known = std::find_if(migrations.begin(), migrations.end(),
                              [&](const Migration& m) { return m.version == version; });
    // A version we do not know, or one we know by another name: a newer or
    // a diverged program wrote this schema, and our queries would misread it.
    if (known == migrations.end() || known->name != row.text(1)) return kSchemaTooNew;
  }
  return version;
}

}  // namespace

ErrorOr<std::int64_t> migrate(Database& database, std::span<const Migration> migrations) {
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version <= (i == 0 ? 0 : migrations[i - 1].version)) {
      return Error::invalid_argument("migration versions must be positive and strictly increasing");
    }
  }
  std::int64_t version = 0;
  {
    Transaction transaction = TRY(database.begin_write());
    TRY(lock_and_prepare(transaction));
    version = TRY(current_version(transaction, migrations));
    TRY(transaction.commit());
  }
  for (const Migration& migration : migrations) {
    if (migration.version <= version) continue;
    // Each step in its own transaction, re-checked under the lock: another
    // process may have applied it since we looked.
    Transaction transaction = TRY(database.begin_write());
    TRY(lock_and_prepare(transaction));
    std::int64_t now = TRY(current_version(transaction, migrations));
    if (now >= migration.version) {
      version = now;
      continue;
    }
    TRY(transaction.execute_script(migration.sql));
    auto applied_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
    TRY(transaction.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                            {migration.version, migration.name, applied_at}));
    TRY(transaction.commit());
    version = migration.version;
  }
  return version;
}

ErrorOr<std::int64_t> schema_version(Database& database) {
  Transaction transaction = TRY(database.begin_read());
  // An empty database has no table yet; ask the catalog first.
  std::string_view exists_sql =
      database.backend() == Backend::kSqlite
          ? "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
          : "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
            " AND table_schema = current_schema()";
  std::optional<Row> exists = TRY(transaction.query_row(exists_sql));
  if (!exists || exists->int64(0) == 0) return std::int64_t{0};
  std::optional<Row> row = TRY(transaction.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
  return row ? row->int64(0) : 0;
}

}  // namespace pmos::store

#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "pmos/base/error_or.h"
#include "pmos/store/database.h"

namespace pmos::store {

// One step of a schema's history. `sql` is a script in the dialect of
// translate_sql (tokens such as {blob}), run once, inside one transaction,
// together with the row that records it in schema_migrations.
// Never edit a migration that has shipped: add the next one.
struct Migration {
  std::int64_t version;  // 1, 2, 3 ... strictly increasing
  std::string_view name;
  std::string_view sql;
};

// Brings the schema up to the last of `migrations`, applying each missing one
// in its own transaction, and returns the resulting version. Safe to call
// from several processes at once (SQLite: BEGIN IMMEDIATE; PostgreSQL: a
// transaction-scoped advisory lock), and a no-op when up to date.
//
// Refuses with kSchemaTooNew a database whose schema_migrations holds a
// version this program does not know (a newer program migrated it: running
// old code on it could corrupt it), and with kSchemaTooNew as well if a
// recorded version has another name than ours (a diverged history).
ErrorOr<std::int64_t> migrate(Database& database, std::span<const Migration> migrations);

// The highest applied version, 0 for an empty database.
ErrorOr<std::int64_t> schema_version(Database& database);

}  // namespace pmos::store

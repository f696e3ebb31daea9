#include "pmos/store/migration.h"

#include "store_fixture.h"

namespace pmos::store::testing {
namespace {

using MigrationTest = StoreTest;

constexpr Migration kHistory[] = {
    {1, "create notes", "CREATE TABLE notes (id {id_pk}, body TEXT NOT NULL)"},
    // Data migrations run once as well: a second run would insert twice.
    {2, "seed notes", "INSERT INTO notes (body) VALUES ('first'); CREATE INDEX notes_by_body ON notes (body)"},
};

ErrorOr<std::int64_t> count_notes(Database& database) {
  Transaction transaction = TRY(database.begin_read());
  std::optional<Row> row = TRY(transaction.query_row("SELECT COUNT(*) FROM notes"));
  return row->int64(0);
}

TEST_P(MigrationTest, AppliesEachStepOnceAndIsIdempotent) {
  ASSERT_OK_AND_ASSIGN(auto database, Database::create(database_config()));
  ASSERT_OK_AND_ASSIGN(auto version, schema_version(*database));
  EXPECT_EQ(version, 0);
  // Step by step: first only version 1, then the whole history, then again.
  ASSERT_OK_AND_ASSIGN(version, migrate(*database, std::span(kHistory).first(1)));
  EXPECT_EQ(version, 1);
  ASSERT_OK_AND_ASSIGN(version, migrate(*database, kHistory));
  EXPECT_EQ(version, 2);
  ASSERT_OK_AND_ASSIGN(version, migrate(*database, kHistory));
  EXPECT_EQ(version, 2);
  ASSERT_OK_AND_ASSIGN(auto notes, count_notes(*database));
  EXPECT_EQ(notes, 1);
  ASSERT_OK_AND_ASSIGN(version, schema_version(*database));
  EXPECT_EQ(version, 2);

  // Another process opening the same database finds nothing to do.
  ASSERT_OK_AND_ASSIGN(auto second, Database::create(database_config()));
  ASSERT_OK_AND_ASSIGN(version, migrate(*second, kHistory));
  EXPECT_EQ(version, 2);
  ASSERT_OK_AND_ASSIGN(notes, count_notes(*second));
  EXPECT_EQ(notes, 1);
}

TEST_P(MigrationTest, RefusesASchemaNewerThanTheCode) {
  ASSERT_OK_AND_ASSIGN(auto database, Database::create(database_config()));
  ASSERT_OK(migrate(*database, kHistory));
  {
    // What a newer program would have left behind.
    ASSERT_OK_AND_ASSIGN(auto transaction, database->begin_write());
    ASSERT_OK(transaction.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                                  {3, "from the future", 0}));
    ASSERT_OK(transaction.commit());
  }
  auto refused = migrate(*database, kHistory);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error(), kSchemaTooNew);
}

TEST_P(MigrationTest, RefusesADivergedHistory) {
  ASSERT_OK_AND_ASSIGN(auto database, Database::create(database_config()));
  ASSERT_OK(migrate(*database, std::span(kHistory).first(1)));
  const Migration other[] = {{1, "something else", "CREATE TABLE other (x BIGINT)"}};
  auto refused = migrate(*database, other);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error(), kSchemaTooNew);
}

TEST_P(MigrationTest, AFailedStepLeavesNoTrace) {
  ASSERT_OK_AND_ASSIGN(auto database, Database::create(database_config()));
  const Migration broken[] = {
      kHistory[0],
      {2, "half done", "CREATE TABLE half (x BIGINT); INSERT INTO no_such_table VALUES (1)"},
  };
  auto failed = migrate(*database, broken);
  ASSERT_FALSE(failed.has_value());
  ASSERT_OK_AND_ASSIGN(auto version, schema_version(*database));
  EXPECT_EQ(version, 1);
  // The step's first statement was rolled back with it (DDL is
  // transactional in both back ends).
  ASSERT_OK_AND_ASSIGN(auto transaction, database->begin_read());
  EXPECT_FALSE(transaction.query("SELECT COUNT(*) FROM half").has_value());
}

TEST_P(MigrationTest, RejectsAnUnorderedHistory) {
  ASSERT_OK_AND_ASSIGN(auto database, Database::create(database_config()));
  const Migration unordered[] = {kHistory[1], kHistory[0]};
  auto refused = migrate(*database, unordered);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().category(), ErrorCategory::kInvalidArgument);
}

TEST_P(MigrationTest, RelayStoreRefusesANewerSchema) {
  {
    ASSERT_OK_AND_ASSIGN(auto store, RelayStore::create(relay_config()));
    ASSERT_OK_AND_ASSIGN(auto transaction, store->database().begin_write());
    ASSERT_OK(transaction.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                                  {1000, "newer relay", 0}));
    ASSERT_OK(transaction.commit());
  }
  auto refused = RelayStore::create(relay_config());
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error(), kSchemaTooNew);
}

PMOS_STORE_BACKENDS(MigrationTest);

}  // namespace
}  // namespace pmos::store::testing

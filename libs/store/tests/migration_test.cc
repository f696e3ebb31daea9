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

// Version 3 rebuilt the queue table: entries queued before it stay, in order,
// and fetch, ack and sends after it work on them.
TEST_P(MigrationTest, RelayQueueSurvivesTheQueueRebuild) {
  auto history = RelayStore::migrations();
  ASSERT_GE(history.size(), 3u);
  ASSERT_EQ(history[2].version, 3);
  {
    ASSERT_OK_AND_ASSIGN(auto database, Database::create(database_config()));
    ASSERT_OK_AND_ASSIGN(auto version, migrate(*database, history.first(2)));
    ASSERT_EQ(version, 2);
    ASSERT_OK_AND_ASSIGN(auto transaction, database->begin_write());
    // Bound parameters: blobs must be blobs on both back ends.
    ASSERT_OK(transaction.execute("INSERT INTO mls_groups (id, epoch, created_at) VALUES (?, 0, 0)", {to_bytes("g")}));
    for (const char* device : {"a", "b"}) {
      ASSERT_OK(transaction.execute(
          "INSERT INTO devices (id, user_id, certificate_fingerprint, revoked, next_seq, created_at) "
          "VALUES (?, 'u', ?, 0, ?, 0)",
          {device, to_bytes(device), std::string_view(device) == "b" ? 2 : 0}));
      ASSERT_OK(transaction.execute("INSERT INTO mls_group_members (group_id, device_id) VALUES (?, ?)",
                                    {to_bytes("g"), device}));
    }
    for (int i : {1, 2}) {
      ASSERT_OK_AND_ASSIGN(auto inserted, transaction.query_row(
          "INSERT INTO messages (sender_device, client_id, group_id, kind, epoch, body, created_at) "
          "VALUES ('a', ?, ?, 0, 0, ?, 0) RETURNING id",
          {to_bytes("c" + std::to_string(i)), to_bytes("g"), to_bytes(i == 1 ? "one" : "two")}));
      ASSERT_OK(transaction.execute("INSERT INTO queue (device_id, seq, message_id) VALUES ('b', ?, ?)",
                                    {i, inserted->int64(0)}));
    }
    ASSERT_OK(transaction.commit());
  }
  ASSERT_OK_AND_ASSIGN(auto store, RelayStore::create(relay_config()));
  ASSERT_OK_AND_ASSIGN(auto version, schema_version(store->database()));
  EXPECT_EQ(version, history.back().version);
  ASSERT_OK_AND_ASSIGN(auto queued, store->fetch("b", 0, 10));
  ASSERT_EQ(queued.size(), 2u);
  EXPECT_EQ(queued[0].seq, 1);
  EXPECT_EQ(queued[1].seq, 2);
  EXPECT_EQ(queued[1].body, to_bytes("two"));
  OutgoingMessage message{to_bytes("g"), "a", to_bytes("c3"), MessageKind::kApplication, 0, to_bytes("three")};
  ASSERT_OK_AND_ASSIGN(auto sent, store->send_message(message));
  ASSERT_EQ(sent.status, SendStatus::kQueued);
  ASSERT_EQ(sent.queued.size(), 1u);
  EXPECT_EQ(sent.queued[0].seq, 3);
  ASSERT_OK_AND_ASSIGN(auto acked, store->ack("b", 2));
  EXPECT_EQ(acked, 2);
  ASSERT_OK_AND_ASSIGN(auto left, store->fetch("b", 0, 10));
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].body, to_bytes("three"));
}

PMOS_STORE_BACKENDS(MigrationTest);

}  // namespace
}  // namespace pmos::store::testing

// The relay's schema history (docs/store.md explains each table). Written
// once for both back ends in translate_sql's dialect. Shipped migrations are
// never edited; add the next version instead.

#include "pmos/store/relay_store.h"

namespace pmos::store {
namespace {

constexpr std::string_view kV1 = R"sql(
CREATE TABLE devices (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  certificate_fingerprint {blob} NOT NULL UNIQUE,
  revoked BIGINT NOT NULL DEFAULT 0,
  -- The last sequence number handed out for this device's queue. Bumped
  -- under the row's lock, so numbers are strictly increasing and a reader
  -- never sees a later entry commit before an earlier one.
  next_seq BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);
CREATE INDEX devices_by_user ON devices (user_id);

CREATE TABLE enrollment_tokens (
  token_hash {blob} PRIMARY KEY,
  user_id TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT
);

CREATE TABLE key_packages (
  id {id_pk},
  device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  last_resort BIGINT NOT NULL,
  data {blob} NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX key_packages_by_device ON key_packages (device_id, last_resort, id);

CREATE TABLE mls_groups (
  id {blob} PRIMARY KEY,
  epoch BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE mls_group_members (
  group_id {blob} NOT NULL REFERENCES mls_groups (id) ON DELETE CASCADE,
  device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
  PRIMARY KEY (group_id, device_id)
);
CREATE INDEX mls_group_members_by_device ON mls_group_members (device_id);

-- One row per message sent, whatever its fan-out; queue rows point here.
-- (sender_device, client_id) makes resends idempotent for as long as the row
-- lives (the retention period); the body is dropped once every recipient
-- has acked.
CREATE TABLE messages (
  id {id_pk},
  sender_device TEXT NOT NULL,
  client_id {blob},
  group_id {blob} NOT NULL,
  kind BIGINT NOT NULL,
  epoch BIGINT NOT NULL,
  body {blob},
  created_at BIGINT NOT NULL,
  UNIQUE (sender_device, client_id)
);
CREATE INDEX messages_by_age ON messages (created_at);
-- A second fence behind the epoch compare-and-swap: one commit per epoch.
CREATE UNIQUE INDEX messages_one_commit_per_epoch ON messages (group_id, epoch) WHERE kind = 2;

CREATE TABLE queue (
  device_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  message_id BIGINT NOT NULL,
  PRIMARY KEY (device_id, seq)
);
CREATE INDEX queue_by_message ON queue (message_id);

CREATE TABLE attachments (
  id {blob} PRIMARY KEY,
  owner_device TEXT NOT NULL,
  data {blob} NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX attachments_by_expiry ON attachments (expires_at);
)sql";

// Per-device attachment quotas sum an owner's attachments.
constexpr std::string_view kV2 = R"sql(
CREATE INDEX attachments_by_owner ON attachments (owner_device, expires_at);
)sql";

// The queue is written and read by (device_id, seq) alone: on SQLite one
// B-tree keyed by it (WITHOUT ROWID) instead of a table plus the key's index,
// and no index by message, so that a queued message and its ack touch one
// tree each instead of three. Retention finds a message's entries by
// scanning the queue, which holds only what is not acked yet.
constexpr std::string_view kV3 = R"sql(
CREATE TABLE queue_v3 (
  device_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  message_id BIGINT NOT NULL,
  PRIMARY KEY (device_id, seq)
) {without_rowid};
INSERT INTO queue_v3 (device_id, seq, message_id) SELECT device_id, seq, message_id FROM queue;
DROP TABLE queue;
ALTER TABLE queue_v3 RENAME TO queue;
)sql";

constexpr Migration kMigrations[] = {
    {1, "relay: devices, tokens, key packages, groups, queues, attachments", kV1},
    {2, "relay: attachments by owner (quotas)", kV2},
    {3, "relay: queue keyed by device and sequence only", kV3},
};

}  // namespace

std::span<const Migration> RelayStore::migrations() { return kMigrations; }

}  // namespace pmos::store

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/store/database.h"
#include "pmos/store/migration.h"

namespace pmos::store {

using TimePoint = std::chrono::system_clock::time_point;
// Where the store reads the time: injected so that tests can replay expiry.
using Clock = std::function<TimePoint()>;

struct RelayStoreConfig {
  DatabaseConfig database;
  // Undelivered messages and the message ids that make resends idempotent
  // are kept this long (issue 5: configurable, default 30 days).
  std::chrono::seconds retention = std::chrono::hours(24 * 30);
  std::size_t max_attachment_bytes = 16 * 1024 * 1024;
  Clock clock = [] { return std::chrono::system_clock::now(); };
};

struct Device {
  std::string id;
  std::string user_id;
  Bytes certificate_fingerprint;  // e.g. SHA-256 of the DER certificate
  bool revoked = false;
};

enum class TokenStatus : std::uint8_t { kConsumed, kUnknown, kAlreadyUsed, kExpired };
struct TokenConsumption {
  TokenStatus status;
  std::string user_id;  // set when kConsumed
};

struct ClaimedKeyPackage {
  Bytes key_package;
  bool last_resort;  // a last-resort package stays published (RFC 9420 §16.8)
};

struct GroupInfo {
  std::int64_t epoch;
  std::vector<std::string> members;  // device ids, sorted
};

// The relay needs to tell these apart only for routing and for the
// one-commit-per-epoch rule; the bodies are opaque MLS messages.
enum class MessageKind : std::uint8_t { kApplication = 0, kProposal = 1, kCommit = 2, kWelcome = 3 };

// An application or proposal message to every other member of its group.
struct OutgoingMessage {
  Bytes group_id;
  std::string sender_device;
  Bytes message_id;  // chosen by the client; a resend with the same id is not queued again
  MessageKind kind = MessageKind::kApplication;
  std::int64_t epoch = 0;  // from the MLS header, passed to recipients
  Bytes body;
};

enum class SendStatus : std::uint8_t { kQueued, kDuplicate, kNoSuchGroup, kNotMember };
// One queue entry a send wrote: lets the relay push the message to a
// connected device without reading it back.
struct QueuedFor {
  std::string device_id;
  std::int64_t seq = 0;
};

struct SendResult {
  SendStatus status;
  std::int64_t recipients = 0;  // queue entries written (0 for a duplicate)
  std::vector<QueuedFor> queued;  // those entries (kQueued only)
  TimePoint created_at{};
};

struct Welcome {
  std::vector<std::string> recipients;  // device ids of the new members
  Bytes body;
};

// A commit for `epoch`, with the membership changes it makes (the relay
// reads them from the commit's proposals; the store does not parse MLS) and
// its welcomes. The commit goes to every member at `epoch` but the sender,
// including those it removes; welcomes go to their recipients.
struct CommitRequest {
  Bytes group_id;
  std::string sender_device;
  Bytes message_id;
  std::int64_t epoch = 0;
  Bytes commit;
  std::vector<std::string> add_devices;
  std::vector<std::string> remove_devices;
  std::vector<Welcome> welcomes;
};

enum class CommitStatus : std::uint8_t { kAccepted, kDuplicate, kEpochConflict, kNoSuchGroup, kNotMember };
struct CommitResult {
  CommitStatus status;
  // kAccepted, kDuplicate: the epoch the commit created (request.epoch + 1).
  // kEpochConflict: the group's current epoch, for the loser to catch up.
  std::int64_t epoch = 0;
};

struct QueuedMessage {
  std::int64_t seq;  // per device, strictly increasing, never reused
  MessageKind kind;
  Bytes group_id;
  std::string sender_device;
  std::int64_t epoch;
  Bytes body;
  TimePoint created_at;
};

struct ExpiryReport {
  std::int64_t queue_entries = 0;
  std::int64_t messages = 0;
  std::int64_t bodies_released = 0;  // delivered everywhere; id kept for dedup
  std::int64_t attachments = 0;
  std::int64_t tokens = 0;
};

// The relay's state (issue 5): devices, enrollment tokens, key packages,
// groups and their epochs, per-device message queues, attachments.
//
// Every write that a reply to a device depends on goes through the group
// commit writer and is durable when the call returns (or the callback runs).
// Reads use pooled connections and see committed data. Authentication and
// authorization are the caller's; the store checks what needs the data to
// check (sender is a group member, one commit per epoch).
//
// Thread-safe. Several RelayStores (several relay processes) may share one
// PostgreSQL database; with SQLite, one process should own the file (others
// work, but queue behind its write lock).
class RelayStore {
 public:
  // Opens the database and brings its schema up to date.
  static ErrorOr<std::unique_ptr<RelayStore>> create(RelayStoreConfig config);
  ~RelayStore();

  // The schema history of the relay, for tests and tools.
  static std::span<const Migration> migrations();

  Database& database() { return *database_; }

  // Devices. add_device returns false if the id or the fingerprint is taken.
  ErrorOr<bool> add_device(const Device& device);
  ErrorOr<std::optional<Device>> device(std::string_view device_id);
  ErrorOr<std::optional<Device>> device_by_fingerprint(BytesView fingerprint);
  ErrorOr<std::vector<Device>> devices_of_user(std::string_view user_id);
  // Returns false for an unknown device. A revoked device receives no more
  // queue entries; its key packages are deleted.
  ErrorOr<bool> revoke_device(std::string_view device_id);
  // Every revoked device, for a server's in-memory revocation set (which its
  // TLS layer asks on each handshake; a database round trip there is too slow).
  ErrorOr<std::vector<Device>> revoked_devices();

  // One-time enrollment tokens, stored by hash: whoever reads the database
  // learns no token. Consumption is atomic: of any number of concurrent
  // consumers exactly one gets kConsumed.
  ErrorOr<bool> add_enrollment_token(BytesView token_hash, std::string_view user_id, TimePoint expires_at);
  ErrorOr<TokenConsumption> consume_enrollment_token(BytesView token_hash);

  // Key packages. A new last-resort package replaces the device's previous
  // one. claim hands each ordinary package to exactly one claimer, then the
  // last-resort one to everybody; nullopt when the device has neither.
  ErrorOr<void> publish_key_packages(std::string_view device_id, std::span<const Bytes> key_packages,
                                     std::optional<BytesView> last_resort = std::nullopt);
  ErrorOr<std::optional<ClaimedKeyPackage>> claim_key_package(std::string_view device_id);
  // Ordinary (not last-resort) packages left, so a device can top up.
  ErrorOr<std::int64_t> key_package_count(std::string_view device_id);
  // Queue entries not yet acked, over all devices (for /metrics).
  ErrorOr<std::int64_t> queued_entries();

  // Groups. create_group makes a group at epoch 0 with these members and
  // returns false if the id is taken.
  ErrorOr<bool> create_group(BytesView group_id, std::span<const std::string> member_devices);
  ErrorOr<std::optional<GroupInfo>> group(BytesView group_id);

  // Messages. Durable, fanned out and deduplicated in one transaction.
  ErrorOr<SendResult> send_message(const OutgoingMessage& message);
  void send_message_async(OutgoingMessage message, std::function<void(ErrorOr<SendResult>)> done);

  // Compare-and-swap on the group's epoch in the transaction that stores the
  // commit, fans it out, applies its membership changes and queues its
  // welcomes: of several commits for one epoch exactly one is accepted.
  ErrorOr<CommitResult> submit_commit(const CommitRequest& commit);
  void submit_commit_async(CommitRequest commit, std::function<void(ErrorOr<CommitResult>)> done);

  // A device's queue after `after_seq`, oldest first, at most `limit`.
  ErrorOr<std::vector<QueuedMessage>> fetch(std::string_view device_id, std::int64_t after_seq,
                                            std::size_t limit);
  // Deletes the device's entries up to and including `up_to_seq`; returns
  // how many. Delivery is at-least-once: until the ack, fetch repeats them.
  ErrorOr<std::int64_t> ack(std::string_view device_id, std::int64_t up_to_seq);
  void ack_async(std::string device_id, std::int64_t up_to_seq, std::function<void(ErrorOr<std::int64_t>)> done);

  // Attachments: opaque (client-encrypted) blobs. put refuses more than
  // max_attachment_bytes with kInvalidArgument; with a quota (> 0), it
  // refuses a blob that would take the owner's unexpired attachments past
  // quota_bytes, checked in the same transaction as the insert.
  // attachment() returns nullopt once expired.
  enum class AttachmentPut : std::uint8_t { kStored, kIdTaken, kOverQuota };
  ErrorOr<AttachmentPut> put_attachment(BytesView attachment_id, std::string_view owner_device, BytesView data,
                                        TimePoint expires_at, std::int64_t quota_bytes = 0);
  ErrorOr<std::optional<Bytes>> attachment(BytesView attachment_id);

  // Deletes what retention allows: messages older than `retention` and
  // their queue entries, expired attachments and tokens; and drops the bodies
  // of messages every recipient acked (their ids stay until retention, for
  // idempotent resends). Run it periodically.
  ErrorOr<ExpiryReport> expire();

 private:
  RelayStore(RelayStoreConfig config, std::unique_ptr<Database> database);

  // Runs `operation` through the group commit writer and waits.
  template <typename R>
  ErrorOr<R> write(std::function<ErrorOr<R>(Transaction&)> operation);
  template <typename R>
  void write_async(std::function<ErrorOr<R>(Transaction&)> operation, std::function<void(ErrorOr<R>)> done);

  std::int64_t now_ms() const;

  RelayStoreConfig config_;
  std::unique_ptr<Database> database_;
};

std::string_view to_string(SendStatus status);
std::string_view to_string(CommitStatus status);
std::string_view to_string(TokenStatus status);

}  // namespace pmos::store

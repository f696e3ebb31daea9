#include "pmos/store/relay_store.h"

#include <algorithm>
#include <future>

namespace pmos::store {
namespace {

// A typed operation for the group commit writer: keeps the result of the
// last (committed) run and hands it to `done` once the batch is durable.
template <typename R>
class OperationRequest final : public WriteRequest {
 public:
  OperationRequest(std::function<ErrorOr<R>(Transaction&)> operation, std::function<void(ErrorOr<R>)> done)
      : operation_(std::move(operation)), done_(std::move(done)) {}

  ErrorOr<void> run(Transaction& transaction) override {
    ErrorOr<R> result = operation_(transaction);
    if (!result.has_value()) return result.error();
    result_.emplace(std::move(result).release_value());
    return {};
  }
  void complete(ErrorOr<void> status) override {
    if (!status.has_value()) {
      done_(status.error());
    } else {
      done_(std::move(*result_));
    }
  }

 private:
  std::function<ErrorOr<R>(Transaction&)> operation_;
  std::function<void(ErrorOr<R>)> done_;
  std::optional<R> result_;
};

std::int64_t to_ms(TimePoint time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

Device device_from_row(const Row& row) {
  return Device{row.text(0), row.text(1), row.blob(2), row.int64(3) != 0};
}

constexpr std::string_view kSelectDevice =
    "SELECT id, user_id, certificate_fingerprint, revoked FROM devices";

// Why a sender cannot send: the group is unknown or they are not in it.
ErrorOr<bool> group_exists(Transaction& transaction, BytesView group_id) {
  std::optional<Row> row = TRY(transaction.query_row("SELECT 1 FROM mls_groups WHERE id = ?", {group_id}));
  return row.has_value();
}

// Queues message `message_id` for every member of the group but the sender
// (revoked devices excluded), giving each the next number of its own queue.
// Two statements whatever the group's size: bump every recipient's counter,
// then insert the queue rows reading the bumped counters. The counters' row
// locks (PostgreSQL) order concurrent senders to one device, so sequence
// numbers commit in increasing order and a reader never skips one. The
// caller holds the group row's lock (FOR UPDATE or the epoch update), so the
// membership cannot change between the two statements.
ErrorOr<std::int64_t> fan_out(Transaction& transaction, std::int64_t message_id, BytesView group_id,
                              std::string_view sender, std::vector<QueuedFor>* queued_for = nullptr) {
  if (transaction.backend() == Backend::kSqlite) {
    // One writer, so no lock is needed between reading a counter and
    // bumping it. Statement by statement by key: on SQLite, RETURNING and
    // IN (subquery) each build a temporary B-tree per execution, which for
    // a 1:1 conversation cost more than the row it updates.
    std::vector<Row> recipients = TRY(transaction.query(
        "SELECT d.id, d.next_seq FROM mls_group_members m JOIN devices d ON d.id = m.device_id "
        "WHERE m.group_id = ? AND m.device_id <> ? AND d.revoked = 0",
        {group_id, sender}));
    if (queued_for != nullptr) queued_for->reserve(recipients.size());
    for (const Row& row : recipients) {
      const std::int64_t seq = row.int64(1) + 1;
      TRY(transaction.execute("UPDATE devices SET next_seq = ? WHERE id = ?", {seq, row.text(0)}));
      TRY(transaction.execute("INSERT INTO queue (device_id, seq, message_id) VALUES (?, ?, ?)",
                              {row.text(0), seq, message_id}));
      if (queued_for != nullptr) queued_for->push_back({row.text(0), seq});
    }
    return static_cast<std::int64_t>(recipients.size());
  }
  std::vector<Row> bumped_rows = TRY(transaction.query(
      "UPDATE devices SET next_seq = next_seq + 1 WHERE revoked = 0 AND id IN "
      "(SELECT device_id FROM mls_group_members WHERE group_id = ? AND device_id <> ?) RETURNING id, next_seq",
      {group_id, sender}));
  std::int64_t bumped = static_cast<std::int64_t>(bumped_rows.size());
  if (queued_for != nullptr) {
    queued_for->reserve(bumped_rows.size());
    for (const Row& row : bumped_rows) queued_for->push_back({row.text(0), row.int64(1)});
  }
  std::int64_t queued = TRY(transaction.execute(
      "INSERT INTO queue (device_id, seq, message_id) "
      "SELECT d.id, d.next_seq, ? FROM devices d JOIN mls_group_members m ON m.device_id = d.id "
      "WHERE m.group_id = ? AND m.device_id <> ? AND d.revoked = 0",
      {message_id, group_id, sender}));
  if (bumped != queued) return Error::internal("group membership changed during fan-out");
  return queued;
}

// Queues `message_id` for one device; false if it is unknown or revoked.
ErrorOr<bool> enqueue_for(Transaction& transaction, std::int64_t message_id, std::string_view device_id) {
  std::optional<Row> row = TRY(transaction.query_row(
      "UPDATE devices SET next_seq = next_seq + 1 WHERE id = ? AND revoked = 0 RETURNING next_seq",
      {device_id}));
  if (!row) return false;
  TRY(transaction.execute("INSERT INTO queue (device_id, seq, message_id) VALUES (?, ?, ?)",
                          {device_id, row->int64(0), message_id}));
  return true;
}

}  // namespace

std::string_view to_string(SendStatus status) {
  switch (status) {
    case SendStatus::kQueued: return "queued";
    case SendStatus::kDuplicate: return "duplicate";
    case SendStatus::kNoSuchGroup: return "no such group";
    case SendStatus::kNotMember: return "not a member";
  }
  return "unknown";
}

std::string_view to_string(CommitStatus status) {
  switch (status) {
    case CommitStatus::kAccepted: return "accepted";
    case CommitStatus::kDuplicate: return "duplicate";
    case CommitStatus::kEpochConflict: return "epoch conflict";
    case CommitStatus::kNoSuchGroup: return "no such group";
    case CommitStatus::kNotMember: return "not a member";
  }
  return "unknown";
}

std::string_view to_string(TokenStatus status) {
  switch (status) {
    case TokenStatus::kConsumed: return "consumed";
    case TokenStatus::kUnknown: return "unknown";
    case TokenStatus::kAlreadyUsed: return "already used";
    case TokenStatus::kExpired: return "expired";
  }
  return "unknown";
}

RelayStore::RelayStore(RelayStoreConfig config, std::unique_ptr<Database> database)
    : config_(std::move(config)), database_(std::move(database)) {}

RelayStore::~RelayStore() = default;

ErrorOr<std::unique_ptr<RelayStore>> RelayStore::create(RelayStoreConfig config) {
  std::unique_ptr<Database> database = TRY(Database::create(config.database));
  TRY(migrate(*database, migrations()));
  return std::unique_ptr<RelayStore>(new RelayStore(std::move(config), std::move(database)));
}

std::int64_t RelayStore::now_ms() const { return to_ms(config_.clock()); }

template <typename R>
ErrorOr<R> RelayStore::write(std::function<ErrorOr<R>(Transaction&)> operation) {
  std::optional<R> result;
  ErrorOr<void> written = database_->write([&](Transaction& transaction) -> ErrorOr<void> {
    result.emplace(TRY(operation(transaction)));
    return {};
  });
  if (!written.has_value()) return written.error();
  return std::move(*result);
}

template <typename R>
void RelayStore::write_async(std::function<ErrorOr<R>(Transaction&)> operation,
                             std::function<void(ErrorOr<R>)> done) {
  database_->write_async(std::make_unique<OperationRequest<R>>(std::move(operation), std::move(done)));
}

// ---- devices

ErrorOr<bool> RelayStore::add_device(const Device& device) {
  std::int64_t now = now_ms();
  return write<bool>([&](Transaction& transaction) -> ErrorOr<bool> {
    std::int64_t inserted = TRY(transaction.execute(
        "INSERT INTO devices (id, user_id, certificate_fingerprint, revoked, next_seq, created_at) "
        "VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT DO NOTHING",
        {device.id, device.user_id, device.certificate_fingerprint, device.revoked ? 1 : 0, now}));
    return inserted == 1;
  });
}

ErrorOr<std::optional<Device>> RelayStore::device(std::string_view device_id) {
  Transaction transaction = TRY(database_->begin_read());
  std::optional<Row> row = TRY(transaction.query_row(std::string(kSelectDevice) + " WHERE id = ?", {device_id}));
  if (!row) return std::optional<Device>();
  return std::optional<Device>(device_from_row(*row));
}

ErrorOr<std::optional<Device>> RelayStore::device_by_fingerprint(BytesView fingerprint) {
  Transaction transaction = TRY(database_->begin_read());
  std::optional<Row> row = TRY(
      transaction.query_row(std::string(kSelectDevice) + " WHERE certificate_fingerprint = ?", {fingerprint}));
  if (!row) return std::optional<Device>();
  return std::optional<Device>(device_from_row(*row));
}

ErrorOr<std::vector<Device>> RelayStore::devices_of_user(std::string_view user_id) {
  Transaction transaction = TRY(database_->begin_read());
  std::vector<Row> rows =
      TRY(transaction.query(std::string(kSelectDevice) + " WHERE user_id = ? ORDER BY id", {user_id}));
  std::vector<Device> devices;
  for (const Row& row : rows) devices.push_back(device_from_row(row));
  return devices;
}

ErrorOr<std::vector<Device>> RelayStore::revoked_devices() {
  Transaction transaction = TRY(database_->begin_read());
  std::vector<Row> rows = TRY(transaction.query(std::string(kSelectDevice) + " WHERE revoked <> 0 ORDER BY id"));
  std::vector<Device> devices;
  for (const Row& row : rows) devices.push_back(device_from_row(row));
  return devices;
}

ErrorOr<bool> RelayStore::revoke_device(std::string_view device_id) {
  return write<bool>([&](Transaction& transaction) -> ErrorOr<bool> {
    std::int64_t updated = TRY(transaction.execute("UPDATE devices SET revoked = 1 WHERE id = ?", {device_id}));
    // Nobody may start a conversation with a revoked device.
    TRY(transaction.execute("DELETE FROM key_packages WHERE device_id = ?", {device_id}));
    return updated == 1;
  });
}

// ---- enrollment tokens

ErrorOr<bool> RelayStore::add_enrollment_token(BytesView token_hash, std::string_view user_id,
                                               TimePoint expires_at) {
  return write<bool>([&](Transaction& transaction) -> ErrorOr<bool> {
    std::int64_t inserted = TRY(transaction.execute(
        "INSERT INTO enrollment_tokens (token_hash, user_id, expires_at, used_at) VALUES (?, ?, ?, NULL) "
        "ON CONFLICT DO NOTHING",
        {token_hash, user_id, to_ms(expires_at)}));
    return inserted == 1;
  });
}

ErrorOr<TokenConsumption> RelayStore::consume_enrollment_token(BytesView token_hash) {
  std::int64_t now = now_ms();
  return write<TokenConsumption>([&](Transaction& transaction) -> ErrorOr<TokenConsumption> {
    // The check and the mark are one statement: PostgreSQL re-evaluates the
    // WHERE on the locked row after a concurrent consumer commits, SQLite has
    // one writer, so exactly one consumer sees the row change. If this were
    // wrong, one token could enroll two devices.
    std::optional<Row> consumed = TRY(transaction.query_row(
        "UPDATE enrollment_tokens SET used_at = ? "
        "WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? RETURNING user_id",
        {now, token_hash, now}));
    if (consumed) return TokenConsumption{TokenStatus::kConsumed, consumed->text(0)};
    std::optional<Row> row = TRY(transaction.query_row(
        "SELECT used_at FROM enrollment_tokens WHERE token_hash = ?", {token_hash}));
    if (!row) return TokenConsumption{TokenStatus::kUnknown, {}};
    return TokenConsumption{row->is_null(0) ? TokenStatus::kExpired : TokenStatus::kAlreadyUsed, {}};
  });
}

// ---- key packages

ErrorOr<void> RelayStore::publish_key_packages(std::string_view device_id, std::span<const Bytes> key_packages,
                                               std::optional<BytesView> last_resort) {
  std::int64_t now = now_ms();
  ErrorOr<bool> result = write<bool>([&](Transaction& transaction) -> ErrorOr<bool> {
    for (const Bytes& key_package : key_packages) {
      TRY(transaction.execute(
          "INSERT INTO key_packages (device_id, last_resort, data, created_at) VALUES (?, 0, ?, ?)",
          {device_id, key_package, now}));
    }
    if (last_resort) {
      TRY(transaction.execute("DELETE FROM key_packages WHERE device_id = ? AND last_resort = 1", {device_id}));
      TRY(transaction.execute(
          "INSERT INTO key_packages (device_id, last_resort, data, created_at) VALUES (?, 1, ?, ?)",
          {device_id, *last_resort, now}));
    }
    return true;
  });
  if (!result.has_value()) return result.error();
  return {};
}

ErrorOr<std::optional<ClaimedKeyPackage>> RelayStore::claim_key_package(std::string_view device_id) {
  using Claim = std::optional<ClaimedKeyPackage>;
  return write<Claim>([&](Transaction& transaction) -> ErrorOr<Claim> {
    // Delete-and-return in one statement. On PostgreSQL, SKIP LOCKED makes a
    // concurrent claimer take the next package instead of waiting for ours
    // and then finding it gone. Handing one package to two claimers would
    // let two groups share its HPKE init key.
    std::optional<Row> row = TRY(transaction.query_row(
        "DELETE FROM key_packages WHERE id = (SELECT id FROM key_packages "
        "WHERE device_id = ? AND last_resort = 0 ORDER BY id LIMIT 1 {skip_locked}) RETURNING data",
        {device_id}));
    if (row) return Claim(ClaimedKeyPackage{row->take_blob(0), false});
    row = TRY(transaction.query_row(
        "SELECT data FROM key_packages WHERE device_id = ? AND last_resort = 1 ORDER BY id DESC LIMIT 1",
        {device_id}));
    if (row) return Claim(ClaimedKeyPackage{row->take_blob(0), true});
    return Claim();
  });
}

ErrorOr<std::int64_t> RelayStore::key_package_count(std::string_view device_id) {
  Transaction transaction = TRY(database_->begin_read());
  std::optional<Row> row = TRY(transaction.query_row(
      "SELECT COUNT(*) FROM key_packages WHERE device_id = ? AND last_resort = 0", {device_id}));
  return row->int64(0);
}

ErrorOr<std::int64_t> RelayStore::queued_entries() {
  Transaction transaction = TRY(database_->begin_read());
  std::optional<Row> row = TRY(transaction.query_row("SELECT COUNT(*) FROM queue", {}));
  return row->int64(0);
}

// ---- groups

ErrorOr<bool> RelayStore::create_group(BytesView group_id, std::span<const std::string> member_devices) {
  std::int64_t now = now_ms();
  return write<bool>([&](Transaction& transaction) -> ErrorOr<bool> {
    std::int64_t created = TRY(transaction.execute(
        "INSERT INTO mls_groups (id, epoch, created_at) VALUES (?, 0, ?) ON CONFLICT DO NOTHING",
        {group_id, now}));
    if (created == 0) return false;
    for (const std::string& device_id : member_devices) {
      TRY(transaction.execute(
          "INSERT INTO mls_group_members (group_id, device_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
          {group_id, device_id}));
    }
    return true;
  });
}

ErrorOr<std::optional<GroupInfo>> RelayStore::group(BytesView group_id) {
  Transaction transaction = TRY(database_->begin_read());
  std::optional<Row> row = TRY(transaction.query_row("SELECT epoch FROM mls_groups WHERE id = ?", {group_id}));
  if (!row) return std::optional<GroupInfo>();
  GroupInfo info{row->int64(0), {}};
  std::vector<Row> members = TRY(transaction.query(
      "SELECT device_id FROM mls_group_members WHERE group_id = ? ORDER BY device_id", {group_id}));
  for (const Row& member : members) info.members.push_back(member.text(0));
  return std::optional<GroupInfo>(std::move(info));
}

// ---- messages

ErrorOr<SendResult> RelayStore::send_message(const OutgoingMessage& message) {
  std::promise<ErrorOr<SendResult>> done;
  auto future = done.get_future();
  // Borrowing `message` is safe: we wait for completion below.
  send_message_async(message, [&](ErrorOr<SendResult> result) { done.set_value(std::move(result)); });
  return future.get();
}

void RelayStore::send_message_async(OutgoingMessage message, std::function<void(ErrorOr<SendResult>)> done) {
  std::int64_t now = now_ms();
  auto operation = [message = std::move(message), now](Transaction& transaction) -> ErrorOr<SendResult> {
    if (message.kind == MessageKind::kCommit || message.kind == MessageKind::kWelcome) {
      return Error::invalid_argument("commits and welcomes go through submit_commit");
    }
    // The sender's standing: kQueued if the group exists and they are in it.
    // On PostgreSQL this also locks the group row, which keeps its membership
    // fixed until we commit (membership changes only in submit_commit, after
    // it updates this row). Exclusively, not FOR SHARE: sends to one group
    // then queue behind each other before touching any device row, so two
    // relay processes sending to one group cannot deadlock on the recipients'
    // counters. SQLite has one writer and needs no lock.
    auto standing = [&]() -> ErrorOr<SendStatus> {
      std::optional<Row> group = TRY(transaction.query_row(
          "SELECT (SELECT COUNT(*) FROM mls_group_members m WHERE m.group_id = g.id AND m.device_id = ?) "
          "FROM mls_groups g WHERE g.id = ? {for_update}",
          {message.sender_device, message.group_id}));
      if (!group) return SendStatus::kNoSuchGroup;
      return group->int64(0) == 0 ? SendStatus::kNotMember : SendStatus::kQueued;
    };
    std::optional<Row> inserted;
    if (transaction.backend() == Backend::kSqlite) {
      // The membership check rides in the INSERT (one statement fewer per
      // send on the relay's hot path); the reason is looked up only when
      // nothing was inserted.
      // No RETURNING (a temporary B-tree per execution on SQLite, see
      // fan_out): the new row's id is the connection's last rowid.
      std::int64_t added = TRY(transaction.execute(
          "INSERT INTO messages (sender_device, client_id, group_id, kind, epoch, body, created_at) "
          "SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM mls_group_members "
          "WHERE group_id = ? AND device_id = ?) ON CONFLICT (sender_device, client_id) DO NOTHING",
          {message.sender_device, message.message_id, message.group_id, static_cast<int>(message.kind),
           message.epoch, message.body, now, message.group_id, message.sender_device}));
      if (added == 0) {
        SendStatus status = TRY(standing());
        return SendResult{status == SendStatus::kQueued ? SendStatus::kDuplicate : status, 0, {}, {}};
      }
      inserted = TRY(transaction.query_row("SELECT last_insert_rowid()"));
      if (!inserted) return Error::internal("no rowid after an insert");
    } else {
      SendStatus status = TRY(standing());
      if (status != SendStatus::kQueued) return SendResult{status, 0, {}, {}};
      inserted = TRY(transaction.query_row(
          "INSERT INTO messages (sender_device, client_id, group_id, kind, epoch, body, created_at) "
          "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sender_device, client_id) DO NOTHING RETURNING id",
          {message.sender_device, message.message_id, message.group_id, static_cast<int>(message.kind),
           message.epoch, message.body, now}));
      if (!inserted) return SendResult{SendStatus::kDuplicate, 0, {}, {}};
    }
    SendResult result{SendStatus::kQueued, 0, {}, TimePoint(std::chrono::milliseconds(now))};
    result.recipients =
        TRY(fan_out(transaction, inserted->int64(0), message.group_id, message.sender_device, &result.queued));
    return result;
  };
  write_async<SendResult>(std::move(operation), std::move(done));
}

ErrorOr<CommitResult> RelayStore::submit_commit(const CommitRequest& commit) {
  std::promise<ErrorOr<CommitResult>> done;
  auto future = done.get_future();
  submit_commit_async(commit, [&](ErrorOr<CommitResult> result) { done.set_value(std::move(result)); });
  return future.get();
}

void RelayStore::submit_commit_async(CommitRequest commit, std::function<void(ErrorOr<CommitResult>)> done) {
  std::int64_t now = now_ms();
  auto operation = [commit = std::move(commit), now](Transaction& transaction) -> ErrorOr<CommitResult> {
    auto previous = [&]() -> ErrorOr<std::optional<Row>> {
      return transaction.query_row("SELECT epoch FROM messages WHERE sender_device = ? AND client_id = ?",
                                   {commit.sender_device, commit.message_id});
    };
    // A resend of a commit that already won: report its outcome again.
    if (std::optional<Row> sent = TRY(previous())) {
      return CommitResult{CommitStatus::kDuplicate, sent->int64(0) + 1};
    }
    std::optional<Row> member = TRY(transaction.query_row(
        "SELECT 1 FROM mls_group_members WHERE group_id = ? AND device_id = ?",
        {commit.group_id, commit.sender_device}));
    if (!member) {
      bool exists = TRY(group_exists(transaction, commit.group_id));
      return CommitResult{exists ? CommitStatus::kNotMember : CommitStatus::kNoSuchGroup, 0};
    }
    // The compare-and-swap (ARCHITECTURE.md, Storage): one statement that
    // both checks the epoch and advances it. On PostgreSQL a second
    // committer blocks on the row lock, then re-checks the WHERE against the
    // new epoch and matches nothing. Two accepted commits for one epoch would
    // fork the group: members would disagree on its state for good.
    std::int64_t advanced = TRY(transaction.execute(
        "UPDATE mls_groups SET epoch = epoch + 1 WHERE id = ? AND epoch = ?", {commit.group_id, commit.epoch}));
    if (advanced == 0) {
      // Lost, possibly to our own resend running concurrently.
      if (std::optional<Row> sent = TRY(previous())) {
        return CommitResult{CommitStatus::kDuplicate, sent->int64(0) + 1};
      }
      std::optional<Row> current =
          TRY(transaction.query_row("SELECT epoch FROM mls_groups WHERE id = ?", {commit.group_id}));
      if (!current) return CommitResult{CommitStatus::kNoSuchGroup, 0};
      return CommitResult{CommitStatus::kEpochConflict, current->int64(0)};
    }
    std::optional<Row> inserted = TRY(transaction.query_row(
        "INSERT INTO messages (sender_device, client_id, group_id, kind, epoch, body, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        {commit.sender_device, commit.message_id, commit.group_id, static_cast<int>(MessageKind::kCommit),
         commit.epoch, commit.commit, now}));
    // Members at the old epoch get the commit, removed ones included (they
    // learn of their removal from it); new members get welcomes instead.
    TRY(fan_out(transaction, inserted->int64(0), commit.group_id, commit.sender_device));
    for (const std::string& device_id : commit.remove_devices) {
      TRY(transaction.execute("DELETE FROM mls_group_members WHERE group_id = ? AND device_id = ?",
                              {commit.group_id, device_id}));
    }
    for (const std::string& device_id : commit.add_devices) {
      TRY(transaction.execute(
          "INSERT INTO mls_group_members (group_id, device_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
          {commit.group_id, device_id}));
    }
    for (const Welcome& welcome : commit.welcomes) {
      std::optional<Row> row = TRY(transaction.query_row(
          "INSERT INTO messages (sender_device, client_id, group_id, kind, epoch, body, created_at) "
          "VALUES (?, NULL, ?, ?, ?, ?, ?) RETURNING id",
          {commit.sender_device, commit.group_id, static_cast<int>(MessageKind::kWelcome), commit.epoch + 1,
           welcome.body, now}));
      for (const std::string& device_id : welcome.recipients) {
        TRY(enqueue_for(transaction, row->int64(0), device_id));
      }
    }
    return CommitResult{CommitStatus::kAccepted, commit.epoch + 1};
  };
  write_async<CommitResult>(std::move(operation), std::move(done));
}

ErrorOr<std::vector<QueuedMessage>> RelayStore::fetch(std::string_view device_id, std::int64_t after_seq,
                                                      std::size_t limit) {
  Transaction transaction = TRY(database_->begin_read());
  std::vector<Row> rows = TRY(transaction.query(
      "SELECT q.seq, m.kind, m.group_id, m.sender_device, m.epoch, m.body, m.created_at "
      "FROM queue q JOIN messages m ON m.id = q.message_id "
      "WHERE q.device_id = ? AND q.seq > ? ORDER BY q.seq LIMIT ?",
      {device_id, after_seq, static_cast<std::int64_t>(limit)}));
  std::vector<QueuedMessage> messages;
  messages.reserve(rows.size());
  for (Row& row : rows) {
    messages.push_back(QueuedMessage{
        row.int64(0), static_cast<MessageKind>(row.int64(1)), row.blob(2), row.text(3), row.int64(4),
        row.is_null(5) ? Bytes{} : row.take_blob(5),
        TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(row.int64(6))))});
  }
  return messages;
}

ErrorOr<std::int64_t> RelayStore::ack(std::string_view device_id, std::int64_t up_to_seq) {
  std::promise<ErrorOr<std::int64_t>> done;
  auto future = done.get_future();
  ack_async(std::string(device_id), up_to_seq, [&](ErrorOr<std::int64_t> result) { done.set_value(result); });
  return future.get();
}

void RelayStore::ack_async(std::string device_id, std::int64_t up_to_seq,
                           std::function<void(ErrorOr<std::int64_t>)> done) {
  auto operation = [device_id = std::move(device_id), up_to_seq](Transaction& transaction) -> ErrorOr<std::int64_t> {
    return transaction.execute("DELETE FROM queue WHERE device_id = ? AND seq <= ?", {device_id, up_to_seq});
  };
  write_async<std::int64_t>(std::move(operation), std::move(done));
}

// ---- attachments

ErrorOr<RelayStore::AttachmentPut> RelayStore::put_attachment(BytesView attachment_id, std::string_view owner_device,
                                                              BytesView data, TimePoint expires_at,
                                                              std::int64_t quota_bytes) {
  if (data.size() > config_.max_attachment_bytes) return Error::invalid_argument("attachment exceeds the size limit");
  std::int64_t now = now_ms();
  return write<AttachmentPut>([&](Transaction& transaction) -> ErrorOr<AttachmentPut> {
    if (quota_bytes > 0) {
      // length() of a blob/bytea is its size in bytes on both back ends.
      std::optional<Row> used = TRY(transaction.query_row(
          "SELECT COALESCE(SUM(length(data)), 0) FROM attachments WHERE owner_device = ? AND expires_at > ?",
          {owner_device, now}));
      if (used->int64(0) + static_cast<std::int64_t>(data.size()) > quota_bytes) return AttachmentPut::kOverQuota;
    }
    std::int64_t inserted = TRY(transaction.execute(
        "INSERT INTO attachments (id, owner_device, data, created_at, expires_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        {attachment_id, owner_device, data, now, to_ms(expires_at)}));
    return inserted == 1 ? AttachmentPut::kStored : AttachmentPut::kIdTaken;
  });
}

ErrorOr<std::optional<Bytes>> RelayStore::attachment(BytesView attachment_id) {
  Transaction transaction = TRY(database_->begin_read());
  std::optional<Row> row = TRY(transaction.query_row(
      "SELECT data FROM attachments WHERE id = ? AND expires_at > ?", {attachment_id, now_ms()}));
  if (!row) return std::optional<Bytes>();
  return std::optional<Bytes>(row->take_blob(0));
}

// ---- retention

ErrorOr<ExpiryReport> RelayStore::expire() {
  std::int64_t now = now_ms();
  std::int64_t cutoff = now - std::chrono::duration_cast<std::chrono::milliseconds>(config_.retention).count();
  // A transaction of its own, not a group commit batch: this may touch many
  // rows, and the acks and sends queued behind it should not wait for it
  // inside their batch.
  Transaction transaction = TRY(database_->begin_write());
  ExpiryReport report;
  report.queue_entries = TRY(transaction.execute(
      "DELETE FROM queue WHERE message_id IN (SELECT id FROM messages WHERE created_at < ?)", {cutoff}));
  report.messages = TRY(transaction.execute("DELETE FROM messages WHERE created_at < ?", {cutoff}));
  report.bodies_released = TRY(transaction.execute(
      "UPDATE messages SET body = NULL WHERE body IS NOT NULL "
      "AND id NOT IN (SELECT message_id FROM queue)"));
  report.attachments = TRY(transaction.execute("DELETE FROM attachments WHERE expires_at <= ?", {now}));
  report.tokens = TRY(transaction.execute("DELETE FROM enrollment_tokens WHERE expires_at <= ?", {now}));
  TRY(transaction.commit());
  return report;
}

}  // namespace pmos::store

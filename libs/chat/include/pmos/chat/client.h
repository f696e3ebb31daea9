#pragma once

// The chat client core: one enrolled device, its encrypted store
// (store.h), and its connection to the relay (pmos-server, mTLS WebSocket,
// docs/formats/relay.md). Conversations are MLS groups (libs/mls); messages
// are chat envelopes (envelope.h) inside MLS application messages.
//
// Blocking and single-threaded: every call runs its network I/O on the
// caller's thread. Not thread-safe. The client reconnects by itself when an
// operation needs the relay; sync() receives what the relay queued.
//
// Durability: a delivery is acknowledged to the relay only after its result
// is committed to the store, and an outgoing message sits in the store's
// outbox until the relay accepts it, so a crash or a commit conflict loses
// nothing.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/chat/envelope.h"
#include "pmos/chat/identity.h"
#include "pmos/chat/store.h"
#include "pmos/crypto/argon2.h"

namespace pmos::chat {

struct EnrollRequest {
  std::string home;      // the profile directory (created)
  std::string passcode;  // keys the store (Argon2id)
  std::string host = "127.0.0.1";
  std::uint16_t port = 8443;
  std::string ca_pem;    // the org CA, pinned from now on
  std::string token;     // from `pmos-server enroll-token`
  // The MLS suite policy this device insists on (0x0001 international or
  // 0xF0A1 national); empty: whatever the server's policy is. The device
  // learns the server's policy at enrollment and keeps it in the profile; a
  // server of another policy than the one insisted on is refused before the
  // token is spent. The TLS key is Ed25519 either way; the national policy
  // adds an SM2 MLS credential key (identity.h).
  std::optional<std::uint16_t> suite;
  crypto::Argon2Params argon2;
};

struct ClientOptions {
  std::size_t key_packages = 5;  // kept published (besides a last-resort one)
  // A conversation whose last commit with a path from this device is older
  // than this gets an empty commit with a path (post-compromise security).
  std::chrono::seconds self_update_interval{7 * 24 * 3600};
  std::chrono::milliseconds timeout{15000};
  // Fault injection for tests: false processes and stores deliveries but
  // never acknowledges them, as a device that dies between the two would.
  bool acknowledge = true;
};

struct Member {
  std::string user_id;
  std::string device_id;
  std::uint32_t leaf = 0;
};

// What sync() saw, for a UI: one per stored change.
struct Event {
  enum class Kind { kMessage, kEdited, kDeleted, kReceipt, kJoined, kMembers, kRenamed, kLeft };
  Kind kind = Kind::kMessage;
  Bytes group_id;
  Bytes message_id;  // kMessage, kEdited, kDeleted, kReceipt
};

// Counters for tests and diagnostics.
struct ClientStats {
  std::size_t commits = 0;            // our commits the relay accepted
  std::size_t commit_conflicts = 0;   // EPOCH_CONFLICT answers (then caught up and rebuilt)
  std::size_t skipped_deliveries = 0; // deliveries this device could not use (acked, dropped)
  std::size_t duplicate_deliveries = 0;  // redelivered sequence numbers (acked, ignored)
  // Welcomes to a group whose MLS suite this device's policy does not allow
  // (acked, dropped), and why the last one was refused.
  std::size_t refused_welcomes = 0;
  const char* last_refusal = "";
};

class Client {
 public:
  // Makes the device key, enrolls it with the token, creates the store.
  static ErrorOr<DeviceName> enroll(const EnrollRequest& request);
  // Opens an enrolled profile. Does not connect yet.
  static ErrorOr<std::unique_ptr<Client>> open(const std::string& home, std::string_view passcode,
                                               ClientOptions options = {});
  ~Client();

  const std::string& user_id() const;
  const std::string& device_id() const;

  // Connects (if not connected), publishes key packages, sends the outbox.
  ErrorOr<void> connect();
  void disconnect();
  // Processes what the relay has queued until nothing arrives for `idle`;
  // the number of deliveries processed. Also runs due self-updates and
  // deletes expired messages.
  ErrorOr<std::size_t> sync(std::chrono::milliseconds idle = std::chrono::milliseconds(400));

  // The profile's MLS suite policy: the suite of the groups it creates and
  // the only one it joins.
  std::uint16_t suite() const;

  // --- conversations ---
  // `suite`, if given, must be the policy's: anything else is refused
  // (suite_not_allowed) before anything is sent.
  ErrorOr<Bytes> create_conversation(std::string_view name, const std::vector<std::string>& users,
                                     std::optional<std::uint16_t> suite = std::nullopt);
  ErrorOr<void> invite(BytesView group, const std::vector<std::string>& users);
  ErrorOr<void> remove_user(BytesView group, std::string_view user);
  // A Remove proposal for ourselves; another member commits it.
  ErrorOr<void> leave(BytesView group);
  ErrorOr<void> rename(BytesView group, std::string_view name);
  ErrorOr<void> set_disappearing(BytesView group, std::uint32_t seconds);
  ErrorOr<void> self_update(BytesView group);

  // --- messages ---
  ErrorOr<MessageId> send_text(BytesView group, std::string_view text, std::optional<MessageId> reply_to = {});
  ErrorOr<MessageId> edit(BytesView group, const MessageId& target, std::string_view text);
  ErrorOr<MessageId> delete_message(BytesView group, const MessageId& target);
  // Read receipts for every unread message of the conversation.
  ErrorOr<std::size_t> mark_read(BytesView group);
  ErrorOr<MessageId> send_attachment(BytesView group, BytesView data, std::string_view file_name,
                                     std::string_view media_type, std::string_view caption = {});
  // Downloads, checks and decrypts the attachment of a stored message.
  ErrorOr<Bytes> fetch_attachment(BytesView message_id);

  // --- reading the store ---
  ErrorOr<std::vector<ConversationRow>> conversations();
  ErrorOr<std::vector<MessageRow>> messages(BytesView group, std::size_t limit = 1000);
  ErrorOr<std::vector<Member>> members(BytesView group);
  // A conversation by hex group id (or a unique prefix of it) or by name.
  ErrorOr<Bytes> find_conversation(std::string_view name_or_id);
  ErrorOr<std::size_t> expire_messages();
  std::size_t pending_outgoing();

  const ClientStats& stats() const;
  void set_event_handler(std::function<void(const Event&)> handler);
  // Milliseconds since the Unix epoch; tests move time forward.
  void set_clock(std::function<std::int64_t()> now_ms);
  Store& store();

  struct Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pmos::chat

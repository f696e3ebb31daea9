#pragma once

// The device's chat store: one SQLCipher database (`chat.db`) in the profile
// directory, its key derived from the device passcode with Argon2id. The
// salt and cost parameters sit beside it in `chat.salt` (not secret). It
// holds the device key and certificate, MLS group states, unused key
// package bundles, conversations and message history: nothing of it is on
// disk in the clear (SQLCipher encrypts every page, the WAL and journals).
//
// A wrong passcode is ErrorCategory::kCrypto "wrong passcode ...".
// One Store per process and directory; not thread-safe.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/base/secret_bytes.h"
#include "pmos/crypto/argon2.h"

namespace pmos::chat {

struct ConversationRow {
  Bytes group_id;
  std::string name;
  std::uint32_t disappear_s = 0;
  // "active", "left" (we left or were removed).
  std::string status = "active";
  std::int64_t created_ms = 0;
  std::int64_t last_commit_ms = 0;  // our last commit with a path (self-update timer)
  bool leaving = false;             // a Remove proposal for ourselves is out
};

struct MessageRow {
  Bytes id;  // 16 bytes
  Bytes group_id;
  std::string sender_user;
  std::string sender_device;
  std::int64_t sent_ms = 0;
  std::int64_t received_ms = 0;
  std::uint8_t kind = 0;  // EnvelopeKind: kText or kAttachment
  std::string text;
  Bytes reply_to;    // empty: none
  Bytes attachment;  // the encoded AttachmentBody, empty: none
  bool edited = false;
  bool deleted = false;
  bool outgoing = false;
  bool read = false;  // by us
  std::int64_t expires_ms = 0;  // 0: never
  std::vector<std::string> delivered_to;  // device ids
  std::vector<std::string> read_by;
};

struct OutboxRow {
  Bytes client_message_id;
  Bytes group_id;
  Bytes envelope;  // encoded Envelope (inside the encrypted store)
  Bytes mls;       // the protected MLS message last sent, or empty
  std::uint64_t epoch = 0;  // the epoch `mls` was made in
};

class Store {
 public:
  // Opens `dir`/chat.db, creating it (and chat.salt, with `params`) if
  // `create` and it does not exist. A missing store without `create` is
  // kNotFound.
  static ErrorOr<std::unique_ptr<Store>> open(const std::string& dir, std::string_view passcode, bool create,
                                              const crypto::Argon2Params& params = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Every write between begin() and commit() lands atomically; rollback()
  // undoes them. Not nested.
  ErrorOr<void> begin();
  ErrorOr<void> commit();
  void rollback();

  // --- device settings and secrets (a key -> blob table) ---
  ErrorOr<void> set(std::string_view key, BytesView value);
  ErrorOr<std::optional<Bytes>> get(std::string_view key);
  ErrorOr<std::optional<SecretBytes>> get_secret(std::string_view key);

  // --- key package bundles we keep until a Welcome uses them ---
  ErrorOr<void> put_key_package(BytesView ref, BytesView bundle, bool last_resort);
  ErrorOr<std::optional<SecretBytes>> key_package(BytesView ref);
  ErrorOr<void> delete_key_package(BytesView ref);
  ErrorOr<std::size_t> count_key_packages();

  // --- conversations and their MLS state ---
  ErrorOr<void> put_conversation(const ConversationRow& row);
  ErrorOr<std::optional<ConversationRow>> conversation(BytesView group_id);
  ErrorOr<std::vector<ConversationRow>> conversations();
  // The MLS State (State::save) of this epoch and of the one before (for
  // messages sent just before a commit that arrive after it).
  // put_group_state replaces this epoch's; advance_group_state makes it the
  // previous one and stores `next`; clear_group_state forgets both (left).
  ErrorOr<void> put_group_state(BytesView group_id, BytesView state);
  ErrorOr<void> put_previous_state(BytesView group_id, BytesView state);
  ErrorOr<void> advance_group_state(BytesView group_id, BytesView next);
  ErrorOr<void> clear_group_state(BytesView group_id);
  ErrorOr<std::optional<SecretBytes>> group_state(BytesView group_id, bool previous = false);

  // --- messages ---
  // false if a message with this id exists (a duplicate delivery).
  ErrorOr<bool> insert_message(const MessageRow& row);
  ErrorOr<std::optional<MessageRow>> message(BytesView id);
  ErrorOr<std::vector<MessageRow>> messages(BytesView group_id, std::size_t limit = 1000);
  ErrorOr<void> update_message(const MessageRow& row);  // text, edited, deleted, read, expires
  ErrorOr<void> add_receipt(BytesView id, std::string_view device, bool read);
  // Deletes messages whose timer ran out by `now_ms`; how many.
  ErrorOr<std::size_t> delete_expired(std::int64_t now_ms);
  ErrorOr<void> delete_message(BytesView id);

  // --- messages not yet accepted by the relay ---
  ErrorOr<void> put_outbox(const OutboxRow& row);
  ErrorOr<std::vector<OutboxRow>> outbox();
  ErrorOr<void> delete_outbox(BytesView client_message_id);

  // Bytes of the files the store consists of, for tests and `pmos chat`.
  static std::vector<std::string> files(const std::string& dir);

  struct Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pmos::chat

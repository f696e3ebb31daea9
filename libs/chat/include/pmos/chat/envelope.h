#pragma once

// The chat envelope: what one MLS application message carries
// (docs/formats/chat.md). A small TLS-encoded struct of our own, so the relay,
// which sees only MLS ciphertext, learns nothing of it. Plain data, copyable,
// not synchronised.
//
// Decoding is strict (tls::decode): unknown versions and kinds, wrong id
// lengths, text over the limits and trailing bytes are errors.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/codec.h"
#include "pmos/base/error_or.h"

namespace pmos::chat {

// 16 random bytes chosen by the sender; also the relay's client_message_id.
using MessageId = std::array<std::uint8_t, 16>;

inline constexpr std::uint8_t kEnvelopeVersion = 1;
inline constexpr std::size_t kMaxTextBytes = 64 * 1024;
inline constexpr std::size_t kMaxReceiptIds = 1024;

enum class EnvelopeKind : std::uint8_t {
  kText = 1,
  kEdit = 2,
  kDelete = 3,
  kDelivered = 4,
  kRead = 5,
  kAttachment = 6,
};
bool tls_enum_valid(EnvelopeKind kind);

struct TextBody {
  std::string text;                   // UTF-8, at most kMaxTextBytes
  std::optional<MessageId> reply_to;  // the message this answers
};

// Replaces the text of one of the sender's own messages.
struct EditBody {
  MessageId target{};
  std::string text;
};

// Deletes one of the sender's own messages for everyone.
struct DeleteBody {
  MessageId target{};
};

// Delivery or read receipts for messages of this conversation.
struct ReceiptBody {
  std::vector<MessageId> targets;  // 1 .. kMaxReceiptIds
};

// An attachment: the blob lives in the relay's attachment store, encrypted
// with `key` (AES-256-GCM, fresh per attachment, zero nonce: a key encrypts
// exactly one blob). `sha256` is the digest of the ciphertext the relay
// holds, checked before decrypting.
struct AttachmentBody {
  Bytes attachment_id;              // the relay's id, 1..64 bytes
  std::array<std::uint8_t, 32> key{};
  std::array<std::uint8_t, 32> sha256{};
  std::uint64_t size = 0;           // plaintext bytes
  std::string file_name;            // at most 255 bytes, no '/'
  std::string media_type;           // at most 127 bytes
  std::string caption;              // at most kMaxTextBytes
  std::optional<MessageId> reply_to;
};

struct Envelope {
  MessageId id{};
  std::uint64_t sent_at_ms = 0;
  // Seconds after which every copy is deleted (0: keep). The sender copies
  // its conversation's disappearing timer here.
  std::uint32_t expires_after_s = 0;
  std::variant<TextBody, EditBody, DeleteBody, ReceiptBody, ReceiptBody, AttachmentBody> body;

  // Which of the variant's alternatives means what: both receipt kinds use
  // ReceiptBody, so the kind is kept by index.
  EnvelopeKind kind() const { return static_cast<EnvelopeKind>(body.index() + 1); }

  void tls_encode(tls::Writer& w) const;
  static ErrorOr<Envelope> tls_decode(tls::Reader& r);
};

// The conversation's settings, as a GroupContext extension of our own type
// (kConversationInfoExtension), so that every member agrees on them and only
// an MLS commit changes them (rename: a GroupContextExtensions proposal).
inline constexpr std::uint16_t kConversationInfoExtension = 0xF0C1;  // private use (RFC 9420 §17.3)
inline constexpr std::size_t kMaxNameBytes = 256;

struct ConversationInfo {
  std::string name;              // at most kMaxNameBytes
  std::uint32_t disappear_s = 0; // the disappearing-message timer, 0: off

  void tls_encode(tls::Writer& w) const;
  static ErrorOr<ConversationInfo> tls_decode(tls::Reader& r);
};

// A fresh random message id.
MessageId new_message_id();

}  // namespace pmos::chat

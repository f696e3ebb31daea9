#include "pmos/chat/envelope.h"

#include "pmos/crypto/random.h"

namespace pmos::chat {

bool tls_enum_valid(EnvelopeKind kind) {
  auto v = static_cast<std::uint8_t>(kind);
  return v >= 1 && v <= 6;
}

MessageId new_message_id() {
  MessageId id;
  crypto::random_fill(id);
  return id;
}

namespace {

ErrorOr<std::string> read_text(tls::Reader& r, std::size_t max) {
  BytesView bytes = TRY(r.opaque());
  if (bytes.size() > max) return Error::decode("envelope text is too long");
  return std::string(as_string(bytes));
}

ErrorOr<std::optional<MessageId>> read_optional_id(tls::Reader& r) {
  std::optional<MessageId> id;
  TRY(tls::read(r, id));
  return id;
}

}  // namespace

void Envelope::tls_encode(tls::Writer& w) const {
  w.u8(kEnvelopeVersion);
  w.raw(id);
  w.u64(sent_at_ms);
  w.u32(expires_after_s);
  w.u8(static_cast<std::uint8_t>(kind()));
  switch (body.index()) {
    case 0: {
      const auto& b = std::get<0>(body);
      w.opaque(as_bytes(b.text));
      tls::write(w, b.reply_to);
      break;
    }
    case 1: {
      const auto& b = std::get<1>(body);
      w.raw(b.target);
      w.opaque(as_bytes(b.text));
      break;
    }
    case 2:
      w.raw(std::get<2>(body).target);
      break;
    case 3:
    case 4: {
      const ReceiptBody& b = body.index() == 3 ? std::get<3>(body) : std::get<4>(body);
      tls::write(w, b.targets);
      break;
    }
    case 5: {
      const auto& b = std::get<5>(body);
      w.opaque(b.attachment_id);
      w.raw(b.key);
      w.raw(b.sha256);
      w.u64(b.size);
      w.opaque(as_bytes(b.file_name));
      w.opaque(as_bytes(b.media_type));
      w.opaque(as_bytes(b.caption));
      tls::write(w, b.reply_to);
      break;
    }
  }
}

ErrorOr<Envelope> Envelope::tls_decode(tls::Reader& r) {
  if (TRY(r.u8()) != kEnvelopeVersion) return Error::unsupported("envelope has an unknown version");
  Envelope e;
  TRY(tls::read(r, e.id));
  e.sent_at_ms = TRY(r.u64());
  e.expires_after_s = TRY(r.u32());
  EnvelopeKind kind{};
  TRY(tls::read(r, kind));
  switch (kind) {
    case EnvelopeKind::kText: {
      TextBody b;
      b.text = TRY(read_text(r, kMaxTextBytes));
      b.reply_to = TRY(read_optional_id(r));
      e.body.emplace<0>(std::move(b));
      break;
    }
    case EnvelopeKind::kEdit: {
      EditBody b;
      TRY(tls::read(r, b.target));
      b.text = TRY(read_text(r, kMaxTextBytes));
      e.body.emplace<1>(std::move(b));
      break;
    }
    case EnvelopeKind::kDelete: {
      DeleteBody b;
      TRY(tls::read(r, b.target));
      e.body.emplace<2>(b);
      break;
    }
    case EnvelopeKind::kDelivered:
    case EnvelopeKind::kRead: {
      ReceiptBody b;
      TRY(tls::read(r, b.targets));
      if (b.targets.empty() || b.targets.size() > kMaxReceiptIds)
        return Error::decode("receipt names no message or too many");
      if (kind == EnvelopeKind::kDelivered) {
        e.body.emplace<3>(std::move(b));
      } else {
        e.body.emplace<4>(std::move(b));
      }
      break;
    }
    case EnvelopeKind::kAttachment: {
      AttachmentBody b;
      BytesView attachment_id = TRY(r.opaque());
      if (attachment_id.empty() || attachment_id.size() > 64) return Error::decode("attachment id has a bad length");
      b.attachment_id = to_bytes(attachment_id);
      TRY(tls::read(r, b.key));
      TRY(tls::read(r, b.sha256));
      b.size = TRY(r.u64());
      b.file_name = TRY(read_text(r, 255));
      if (b.file_name.find('/') != std::string::npos || b.file_name.find('\0') != std::string::npos)
        return Error::decode("attachment file name contains a path separator or NUL");
      b.media_type = TRY(read_text(r, 127));
      b.caption = TRY(read_text(r, kMaxTextBytes));
      b.reply_to = TRY(read_optional_id(r));
      e.body.emplace<5>(std::move(b));
      break;
    }
  }
  return e;
}

void ConversationInfo::tls_encode(tls::Writer& w) const {
  w.u8(kEnvelopeVersion);
  w.opaque(as_bytes(name));
  w.u32(disappear_s);
}

ErrorOr<ConversationInfo> ConversationInfo::tls_decode(tls::Reader& r) {
  if (TRY(r.u8()) != kEnvelopeVersion) return Error::unsupported("conversation info has an unknown version");
  ConversationInfo info;
  info.name = TRY(read_text(r, kMaxNameBytes));
  info.disappear_s = TRY(r.u32());
  return info;
}

}  // namespace pmos::chat

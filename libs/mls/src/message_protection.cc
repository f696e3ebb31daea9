#include "pmos/mls/message_protection.h"

#include <algorithm>

#include "pmos/crypto/random.h"

namespace pmos::mls {

namespace {

ErrorOr<void> check_epoch(const FramedContent& content, const GroupContext& context) {
  if (content.group_id != context.group_id)
    return Error::invalid_argument("MLS message is for another group");
  if (content.epoch != context.epoch) return Error::invalid_argument("MLS message is for another epoch");
  return {};
}

Bytes tbs_of(WireFormat wire_format, const FramedContent& content, const GroupContext& context) {
  FramedContentTbs tbs;
  tbs.wire_format = wire_format;
  tbs.content = content;
  if (FramedContentTbs::has_context(content.sender)) tbs.context = context;
  return tls::encode(tbs);
}

Bytes membership_tag_of(const crypto::CipherSuite& suite, const AuthenticatedContent& content,
                        const GroupContext& context, BytesView membership_key) {
  AuthenticatedContentTbm tbm;
  tbm.content_tbs.wire_format = WireFormat::kPublicMessage;
  tbm.content_tbs.content = content.content;
  if (FramedContentTbs::has_context(content.content.sender)) tbm.content_tbs.context = context;
  tbm.auth = content.auth;
  return mac(suite, membership_key, tls::encode(tbm));
}

RatchetType ratchet_for(ContentType type) {
  return type == ContentType::kApplication ? RatchetType::kApplication : RatchetType::kHandshake;
}

// The per-message nonce with the reuse guard XORed into its first 4 bytes
// (§6.3.1): a sender that lost its state and reuses a generation still
// produces a fresh nonce with overwhelming probability.
void apply_reuse_guard(MutableBytesView nonce, const ReuseGuard& guard) {
  for (std::size_t i = 0; i < guard.size(); ++i) nonce[i] ^= guard[i];
}

}  // namespace

Bytes mac(const crypto::CipherSuite& suite, BytesView key, BytesView data) {
  return suite.hash().hmac(key, data);
}

ErrorOr<Bytes> sign_content(const crypto::CipherSuite& suite, WireFormat wire_format,
                            const FramedContent& content, const GroupContext& context,
                            const crypto::PrivateKey& signature_key) {
  return suite.sign_with_label(signature_key, "FramedContentTBS", tbs_of(wire_format, content, context));
}

ErrorOr<void> verify_signature(const crypto::CipherSuite& suite, const AuthenticatedContent& content,
                               const GroupContext& context, const crypto::PublicKey& signature_key) {
  auto verified =
      suite.verify_with_label(signature_key, "FramedContentTBS",
                              tbs_of(content.wire_format, content.content, context), content.auth.signature);
  if (!verified) return Error::crypto("MLS content signature does not verify with the sender's key");
  return {};
}

ErrorOr<PublicMessage> protect_public(const crypto::CipherSuite& suite, const AuthenticatedContent& content,
                                      const GroupContext& context, BytesView membership_key) {
  if (content.wire_format != WireFormat::kPublicMessage)
    return Error::invalid_argument("content was signed for another wire format");
  if (content.content.content_type() == ContentType::kApplication)
    return Error::invalid_argument("application data must be sent as a PrivateMessage");
  TRY(check_epoch(content.content, context));
  PublicMessage message{content.content, content.auth, std::nullopt};
  if (content.content.sender.sender_type() == SenderType::kMember)
    message.membership_tag = membership_tag_of(suite, content, context, membership_key);
  return message;
}

ErrorOr<AuthenticatedContent> unprotect_public(const crypto::CipherSuite& suite, const PublicMessage& message,
                                               const GroupContext& context, BytesView membership_key) {
  TRY(check_epoch(message.content, context));
  if (message.content.content_type() == ContentType::kApplication)
    return Error::decode("application data arrived as a PublicMessage");
  AuthenticatedContent content{WireFormat::kPublicMessage, message.content, message.auth};
  if (message.content.sender.sender_type() == SenderType::kMember) {
    if (!message.membership_tag) return Error::decode("PublicMessage from a member lacks its membership tag");
    Bytes expected = membership_tag_of(suite, content, context, membership_key);
    // Constant time: the tag is a MAC under the group's membership key.
    if (!constant_time_equal(expected, *message.membership_tag))
      return Error::crypto("PublicMessage membership tag is wrong (sender not in this epoch, or tampered)");
  }
  return content;
}

ErrorOr<PrivateMessage> protect_private(const crypto::CipherSuite& suite, const AuthenticatedContent& content,
                                        const GroupContext& context, PrivateKeys keys, std::size_t padding) {
  if (content.wire_format != WireFormat::kPrivateMessage)
    return Error::invalid_argument("content was signed for another wire format");
  const auto* member = std::get_if<MemberSender>(&content.content.sender.value);
  if (member == nullptr) return Error::invalid_argument("only members send PrivateMessages");
  TRY(check_epoch(content.content, context));
  ContentType type = content.content.content_type();

  MessageKey key = TRY(keys.tree.next(member->leaf_index, ratchet_for(type)));
  ReuseGuard guard;
  crypto::random_fill(guard);
  apply_reuse_guard(key.nonce.mutable_view(), guard);

  PrivateMessage message;
  message.group_id = content.content.group_id;
  message.epoch = content.content.epoch;
  message.content_type = type;
  message.authenticated_data = content.content.authenticated_data;

  PrivateMessageContent plaintext{content.content.content, content.auth, padding};
  Bytes aad =
      tls::encode(PrivateContentAad{message.group_id, message.epoch, type, message.authenticated_data});
  message.ciphertext = TRY(suite.aead().seal(key.key, key.nonce, aad, plaintext.encode()));

  SenderDataKey sender_key = TRY(sender_data_key(suite, keys.sender_data_secret, message.ciphertext));
  Bytes sender_data = tls::encode(SenderData{member->leaf_index, key.generation, guard});
  Bytes sender_aad = tls::encode(SenderDataAad{message.group_id, message.epoch, type});
  message.encrypted_sender_data =
      TRY(suite.aead().seal(sender_key.key, sender_key.nonce, sender_aad, sender_data));
  return message;
}

ErrorOr<AuthenticatedContent> unprotect_private(const crypto::CipherSuite& suite,
                                                const PrivateMessage& message, const GroupContext& context,
                                                PrivateKeys keys) {
  if (message.group_id != context.group_id)
    return Error::invalid_argument("MLS message is for another group");
  if (message.epoch != context.epoch) return Error::invalid_argument("MLS message is for another epoch");

  SenderDataKey sender_key = TRY(sender_data_key(suite, keys.sender_data_secret, message.ciphertext));
  Bytes sender_aad = tls::encode(SenderDataAad{message.group_id, message.epoch, message.content_type});
  auto sender_plain =
      suite.aead().open(sender_key.key, sender_key.nonce, sender_aad, message.encrypted_sender_data);
  if (!sender_plain)
    return Error::crypto("PrivateMessage sender data does not decrypt (tampered or wrong epoch keys)");
  SenderData sender = TRY(tls::decode<SenderData>(*sender_plain));
  if (sender.leaf_index.value >= keys.tree.leaf_count().value)
    return Error::decode("PrivateMessage sender leaf is outside the tree");

  MessageKey key =
      TRY(keys.tree.get(sender.leaf_index, ratchet_for(message.content_type), sender.generation));
  apply_reuse_guard(key.nonce.mutable_view(), sender.reuse_guard);
  Bytes aad = tls::encode(
      PrivateContentAad{message.group_id, message.epoch, message.content_type, message.authenticated_data});
  auto plaintext = suite.aead().open(key.key, key.nonce, aad, message.ciphertext);
  if (!plaintext) return Error::crypto("PrivateMessage content does not decrypt (tampered)");
  PrivateMessageContent inner = TRY(PrivateMessageContent::decode(*plaintext, message.content_type));

  AuthenticatedContent content;
  content.wire_format = WireFormat::kPrivateMessage;
  content.content.group_id = message.group_id;
  content.content.epoch = message.epoch;
  content.content.sender = Sender{MemberSender{sender.leaf_index}};
  content.content.authenticated_data = message.authenticated_data;
  content.content.content = std::move(inner.content);
  content.auth = std::move(inner.auth);
  return content;
}

Bytes confirmed_transcript_hash(const crypto::CipherSuite& suite, BytesView interim_before,
                                const AuthenticatedContent& commit) {
  Bytes input = to_bytes(interim_before);
  append(input, tls::encode(
                    ConfirmedTranscriptHashInput{commit.wire_format, commit.content, commit.auth.signature}));
  return suite.hash().digest(input);
}

Bytes interim_transcript_hash(const crypto::CipherSuite& suite, BytesView confirmed,
                              const Mac& confirmation_tag) {
  Bytes input = to_bytes(confirmed);
  append(input, tls::encode(InterimTranscriptHashInput{confirmation_tag}));
  return suite.hash().digest(input);
}

Mac confirmation_tag(const crypto::CipherSuite& suite, BytesView confirmation_key, BytesView confirmed) {
  return mac(suite, confirmation_key, confirmed);
}

ErrorOr<void> verify_confirmation_tag(const crypto::CipherSuite& suite, BytesView confirmation_key,
                                      BytesView confirmed, const Mac& tag) {
  // Constant time: the tag is a MAC under the epoch's confirmation key.
  if (!constant_time_equal(confirmation_tag(suite, confirmation_key, confirmed), tag))
    return Error::crypto("commit confirmation tag is wrong: the committer's epoch differs from ours");
  return {};
}

}  // namespace pmos::mls

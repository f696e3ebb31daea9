// mls/message-protection.json and mls/transcript-hashes.json, then the ways a
// message can be wrong, each a distinct error.
#include "pmos/mls/message_protection.h"

#include <gtest/gtest.h>

#include "pmos/mls/mls_message.h"
#include "pmos/testing/vectors.h"

namespace pmos::mls {
namespace {

using testing::hex_field;

std::uint16_t suite_id_of(const nlohmann::json& v) {
  const auto& field = v.at("cipher_suite");
  return field.is_string() ? static_cast<std::uint16_t>(std::stoi(field.get<std::string>()))
                           : field.get<std::uint16_t>();
}

std::uint64_t u64_of(const nlohmann::json& field) {
  return field.is_string() ? std::stoull(field.get<std::string>()) : field.get<std::uint64_t>();
}

TEST(TranscriptHashVectors, EverySuite) {
  PMOS_LOAD_VECTORS(vectors, "mls/transcript-hashes.json");
  int checked = 0;
  for (const auto& v : vectors) {
    auto suite = crypto::CipherSuite::from_id(suite_id_of(v)).value();
    SCOPED_TRACE("cipher suite " + std::to_string(suite.id()));
    auto content = tls::decode<AuthenticatedContent>(hex_field(v, "authenticated_content"));
    ASSERT_TRUE(content.has_value()) << content.error().to_string();
    ASSERT_EQ(content->content.content_type(), ContentType::kCommit);
    ASSERT_TRUE(content->auth.confirmation_tag.has_value());
    Bytes confirmed =
        confirmed_transcript_hash(suite, hex_field(v, "interim_transcript_hash_before"), *content);
    EXPECT_EQ(to_hex(confirmed), v.at("confirmed_transcript_hash_after").get<std::string>());
    EXPECT_TRUE(verify_confirmation_tag(suite, hex_field(v, "confirmation_key"), confirmed,
                                        *content->auth.confirmation_tag)
                    .has_value());
    EXPECT_EQ(to_hex(interim_transcript_hash(suite, confirmed, *content->auth.confirmation_tag)),
              v.at("interim_transcript_hash_after").get<std::string>());
    Mac wrong = *content->auth.confirmation_tag;
    wrong[0] ^= 1;
    EXPECT_FALSE(
        verify_confirmation_tag(suite, hex_field(v, "confirmation_key"), confirmed, wrong).has_value());
    ++checked;
  }
  ASSERT_GT(checked, 0);
  std::printf("transcript-hashes: %d entries checked\n", checked);
}

struct Epoch {
  crypto::CipherSuite suite;
  GroupContext context;
  crypto::PrivateKey signer;
  crypto::PublicKey verifier;
  Bytes encryption_secret;
  Bytes sender_data_secret;
  Bytes membership_key;
};

Epoch epoch_of(const nlohmann::json& v) {
  auto suite = crypto::CipherSuite::from_id(suite_id_of(v)).value();
  GroupContext context;
  context.cipher_suite = static_cast<CipherSuiteId>(suite.id());
  context.group_id = hex_field(v, "group_id");
  context.epoch = u64_of(v.at("epoch"));
  context.tree_hash = hex_field(v, "tree_hash");
  context.confirmed_transcript_hash = hex_field(v, "confirmed_transcript_hash");
  return Epoch{suite,
               context,
               suite.signature().private_key(hex_field(v, "signature_priv")).value(),
               suite.signature().public_key(hex_field(v, "signature_pub")).value(),
               hex_field(v, "encryption_secret"),
               hex_field(v, "sender_data_secret"),
               hex_field(v, "membership_key")};
}

AuthenticatedContent sign(const Epoch& e, WireFormat wire_format, Content content) {
  AuthenticatedContent ac;
  ac.wire_format = wire_format;
  ac.content.group_id = e.context.group_id;
  ac.content.epoch = e.context.epoch;
  ac.content.sender = Sender{MemberSender{LeafIndex(1)}};
  ac.content.content = std::move(content);
  ac.auth.signature = sign_content(e.suite, wire_format, ac.content, e.context, e.signer).value();
  // A commit's confirmation tag is not checked here; any MAC-sized value.
  if (ac.content.content_type() == ContentType::kCommit)
    ac.auth.confirmation_tag = Bytes(e.suite.hash().size(), 7);
  return ac;
}

// Checks one of proposal/commit/application in both framings, as the vector
// format's "Verification" section prescribes.
void check_content(const Epoch& e, const nlohmann::json& v, const std::string& name, const Content& raw) {
  SCOPED_TRACE(name);
  if (v.contains(name + "_pub")) {
    auto message = tls::decode<MlsMessage>(hex_field(v, (name + "_pub").c_str()));
    ASSERT_TRUE(message.has_value()) << message.error().to_string();
    const auto* pub = std::get_if<PublicMessage>(&message->message);
    ASSERT_NE(pub, nullptr);
    auto content = unprotect_public(e.suite, *pub, e.context, e.membership_key);
    ASSERT_TRUE(content.has_value()) << content.error().to_string();
    EXPECT_TRUE(verify_signature(e.suite, *content, e.context, e.verifier).has_value());
    EXPECT_TRUE(content->content.content == raw);

    auto ours =
        protect_public(e.suite, sign(e, WireFormat::kPublicMessage, raw), e.context, e.membership_key);
    ASSERT_TRUE(ours.has_value()) << ours.error().to_string();
    auto back = unprotect_public(e.suite, *ours, e.context, e.membership_key);
    ASSERT_TRUE(back.has_value());
    EXPECT_TRUE(verify_signature(e.suite, *back, e.context, e.verifier).has_value());
  } else {
    auto refused =
        protect_public(e.suite, sign(e, WireFormat::kPublicMessage, raw), e.context, e.membership_key);
    ASSERT_FALSE(refused.has_value());
    EXPECT_STREQ(refused.error().message(), "application data must be sent as a PrivateMessage");
  }

  SecretTree tree(e.suite, LeafCount(2), e.encryption_secret);
  auto message = tls::decode<MlsMessage>(hex_field(v, (name + "_priv").c_str()));
  ASSERT_TRUE(message.has_value()) << message.error().to_string();
  const auto* priv = std::get_if<PrivateMessage>(&message->message);
  ASSERT_NE(priv, nullptr);
  auto content = unprotect_private(e.suite, *priv, e.context, {tree, e.sender_data_secret});
  ASSERT_TRUE(content.has_value()) << content.error().to_string();
  EXPECT_TRUE(verify_signature(e.suite, *content, e.context, e.verifier).has_value());
  EXPECT_TRUE(content->content.content == raw);

  SecretTree sender_tree(e.suite, LeafCount(2), e.encryption_secret);
  SecretTree receiver_tree(e.suite, LeafCount(2), e.encryption_secret);
  auto ours = protect_private(e.suite, sign(e, WireFormat::kPrivateMessage, raw), e.context,
                              {sender_tree, e.sender_data_secret}, 17);
  ASSERT_TRUE(ours.has_value()) << ours.error().to_string();
  auto back = unprotect_private(e.suite, *ours, e.context, {receiver_tree, e.sender_data_secret});
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_TRUE(verify_signature(e.suite, *back, e.context, e.verifier).has_value());
  EXPECT_TRUE(back->content.content == raw);
}

TEST(MessageProtectionVectors, EverySuiteEveryContentBothFramings) {
  PMOS_LOAD_VECTORS(vectors, "mls/message-protection.json");
  int checked = 0;
  for (const auto& v : vectors) {
    Epoch e = epoch_of(v);
    SCOPED_TRACE("cipher suite " + std::to_string(e.suite.id()));
    check_content(e, v, "proposal", Content{tls::decode<Proposal>(hex_field(v, "proposal")).value()});
    check_content(e, v, "commit", Content{tls::decode<Commit>(hex_field(v, "commit")).value()});
    check_content(e, v, "application", Content{ApplicationData{hex_field(v, "application")}});
    ++checked;
  }
  ASSERT_GT(checked, 0);
  std::printf("message-protection: %d suites x 3 contents checked\n", checked);
}

// --- Bad input ----------------------------------------------------------------

class BadMessages : public ::testing::Test {
 protected:
  BadMessages() : suite_(crypto::CipherSuite::from_id(1).value()) {
    context_.cipher_suite = CipherSuiteId::kMls128Dhkemx25519Aes128gcmSha256Ed25519;
    context_.group_id = to_bytes("unit-7");
    context_.epoch = 4;
    context_.tree_hash = Bytes(32, 1);
    context_.confirmed_transcript_hash = Bytes(32, 2);
    signer_ = suite_.signature().generate().value();
  }

  AuthenticatedContent signed_content(WireFormat wire_format, Content content) {
    Epoch e{suite_, context_, signer_, signer_.public_key(), {}, {}, {}};
    return sign(e, wire_format, std::move(content));
  }

  PrivateMessage private_message(std::size_t padding = 0) {
    SecretTree tree(suite_, LeafCount(2), secret_);
    return protect_private(suite_,
                           signed_content(WireFormat::kPrivateMessage, ApplicationData{to_bytes("hello")}),
                           context_, {tree, sender_data_secret_}, padding)
        .value();
  }

  ErrorOr<AuthenticatedContent> open(const PrivateMessage& message) {
    SecretTree tree(suite_, LeafCount(2), secret_);
    return unprotect_private(suite_, message, context_, {tree, sender_data_secret_});
  }

  crypto::CipherSuite suite_;
  GroupContext context_;
  crypto::PrivateKey signer_;
  Bytes secret_ = Bytes(32, 5);
  Bytes sender_data_secret_ = Bytes(32, 6);
  Bytes membership_key_ = Bytes(32, 8);
};

TEST_F(BadMessages, TamperedCiphertextIsRefused) {
  PrivateMessage message = private_message();
  message.ciphertext[message.ciphertext.size() / 2] ^= 1;
  auto opened = open(message);
  ASSERT_FALSE(opened.has_value());
  // The sender data key is derived from the ciphertext, so tampering shows
  // there first.
  EXPECT_EQ(opened.error().category(), ErrorCategory::kCrypto);
}

TEST_F(BadMessages, TamperedAuthenticatedDataIsRefused) {
  PrivateMessage message = private_message();
  message.authenticated_data = to_bytes("x");
  auto opened = open(message);
  ASSERT_FALSE(opened.has_value());
  EXPECT_STREQ(opened.error().message(), "PrivateMessage content does not decrypt (tampered)");
}

TEST_F(BadMessages, TamperedSenderDataIsRefused) {
  PrivateMessage message = private_message();
  message.encrypted_sender_data[0] ^= 1;
  auto opened = open(message);
  ASSERT_FALSE(opened.has_value());
  EXPECT_STREQ(opened.error().message(),
               "PrivateMessage sender data does not decrypt (tampered or wrong epoch keys)");
}

TEST_F(BadMessages, WrongEpochAndGroupAreRefused) {
  PrivateMessage message = private_message();
  message.epoch = 5;
  auto opened = open(message);
  ASSERT_FALSE(opened.has_value());
  EXPECT_STREQ(opened.error().message(), "MLS message is for another epoch");
  message = private_message();
  message.group_id = to_bytes("unit-8");
  opened = open(message);
  ASSERT_FALSE(opened.has_value());
  EXPECT_STREQ(opened.error().message(), "MLS message is for another group");
}

TEST_F(BadMessages, ReplayedGenerationIsRefused) {
  PrivateMessage message = private_message();
  SecretTree tree(suite_, LeafCount(2), secret_);
  ASSERT_TRUE(unprotect_private(suite_, message, context_, {tree, sender_data_secret_}).has_value());
  auto replay = unprotect_private(suite_, message, context_, {tree, sender_data_secret_});
  ASSERT_FALSE(replay.has_value());
  EXPECT_STREQ(replay.error().message(),
               "secret tree: key of this generation was already used or is outside the window");
}

TEST_F(BadMessages, PaddingRoundTripsAndHidesLength) {
  PrivateMessage short_padding = private_message(0);
  PrivateMessage long_padding = private_message(100);
  EXPECT_EQ(long_padding.ciphertext.size(), short_padding.ciphertext.size() + 100);
  EXPECT_TRUE(open(long_padding).has_value());
}

TEST_F(BadMessages, WrongMembershipTagIsRefused) {
  auto content = signed_content(WireFormat::kPublicMessage, Proposal{Remove{LeafIndex(0)}});
  PublicMessage message = protect_public(suite_, content, context_, membership_key_).value();
  EXPECT_TRUE(unprotect_public(suite_, message, context_, membership_key_).has_value());
  (*message.membership_tag)[3] ^= 1;
  auto bad = unprotect_public(suite_, message, context_, membership_key_);
  ASSERT_FALSE(bad.has_value());
  EXPECT_STREQ(bad.error().message(),
               "PublicMessage membership tag is wrong (sender not in this epoch, or tampered)");
  message.membership_tag.reset();
  bad = unprotect_public(suite_, message, context_, membership_key_);
  ASSERT_FALSE(bad.has_value());
  EXPECT_STREQ(bad.error().message(), "PublicMessage from a member lacks its membership tag");
}

TEST_F(BadMessages, BadSignatureIsRefused) {
  auto content = signed_content(WireFormat::kPublicMessage, Proposal{Remove{LeafIndex(0)}});
  content.auth.signature[5] ^= 1;
  auto verified = verify_signature(suite_, content, context_, signer_.public_key());
  ASSERT_FALSE(verified.has_value());
  EXPECT_STREQ(verified.error().message(), "MLS content signature does not verify with the sender's key");
  auto other = suite_.signature().generate().value();
  auto good = signed_content(WireFormat::kPublicMessage, Proposal{Remove{LeafIndex(0)}});
  EXPECT_FALSE(verify_signature(suite_, good, context_, other.public_key()).has_value());
  // A signature over one epoch's context does not verify in another.
  GroupContext later = context_;
  later.epoch = 5;
  EXPECT_FALSE(verify_signature(suite_, good, later, signer_.public_key()).has_value());
}

}  // namespace
}  // namespace pmos::mls

// Wire structs built by hand: exact round trips, and each kind of bad input
// failing with its own error (issue 3, "Bad input").
#include <gtest/gtest.h>

#include <string>

#include "pmos/mls/commit.h"
#include "pmos/mls/framed_content.h"
#include "pmos/mls/mls_message.h"
#include "pmos/mls/private_message.h"
#include "pmos/mls/proposal.h"
#include "pmos/mls/ratchet_tree.h"
#include "pmos/mls/welcome.h"

namespace pmos::mls {
namespace {

Bytes hex(std::string_view text) { return from_hex(text).value(); }

Bytes concat(std::initializer_list<BytesView> parts) {
  Bytes out;
  for (BytesView part : parts) append(out, part);
  return out;
}

constexpr auto kSuite = CipherSuiteId::kMls128Dhkemx25519Aes128gcmSha256Ed25519;

LeafNode sample_leaf(LeafNodeSourceData source) {
  LeafNode leaf;
  leaf.encryption_key = Bytes(32, 0x11);
  leaf.signature_key = Bytes(32, 0x22);
  leaf.credential = Credential{BasicCredential{to_bytes("alice")}};
  // GREASE values in every capabilities list must survive (§13.5).
  leaf.capabilities = Capabilities{{ProtocolVersion::kMls10, ProtocolVersion{0x0a0a}},
                                   {kSuite, CipherSuiteId{0x1a1a}},
                                   {ExtensionType{0x2a2a}},
                                   {ProposalType{0x3a3a}},
                                   {CredentialType::kBasic, CredentialType{0x4a4a}}};
  leaf.source = std::move(source);
  leaf.extensions = ExtensionList{{Extension{ExtensionType::kApplicationId, to_bytes("device-1")},
                                   Extension{ExtensionType{0x2a2a}, Bytes{1, 2, 3}}}};
  leaf.signature = Bytes(64, 0x33);
  return leaf;
}

KeyPackage sample_key_package() {
  KeyPackage kp;
  kp.cipher_suite = kSuite;
  kp.init_key = Bytes(32, 0x44);
  kp.leaf_node = sample_leaf(Lifetime{1, 2});
  kp.extensions = ExtensionList{{Extension{ExtensionType{0x5a5a}, {}}}};
  kp.signature = Bytes(64, 0x55);
  return kp;
}

Commit sample_commit() {
  Commit commit;
  commit.proposals.push_back({Proposal{Add{sample_key_package()}}});
  commit.proposals.push_back({Proposal{Remove{LeafIndex(3)}}});
  commit.proposals.push_back({Proposal{PreSharedKey{
      PreSharedKeyId{ResumptionPsk{ResumptionPskUsage::kBranch, to_bytes("old"), 9}, Bytes(32, 0x66)}}}});
  commit.proposals.push_back(
      {Proposal{PreSharedKey{PreSharedKeyId{ExternalPsk{to_bytes("psk")}, Bytes(32, 0x67)}}}});
  commit.proposals.push_back({Proposal{ReInit{to_bytes("new-group"), ProtocolVersion{2}, kSuite, {}}}});
  commit.proposals.push_back({Proposal{ExternalInit{Bytes(32, 0x68)}}});
  commit.proposals.push_back({Proposal{GroupContextExtensions{}}});
  commit.proposals.push_back({Proposal{Update{sample_leaf(LeafNodeUpdateSource{})}}});
  commit.proposals.push_back({ProposalRef(32, 0x77)});
  UpdatePath path;
  path.leaf_node = sample_leaf(LeafNodeCommitSource{Bytes(32, 0x88)});
  path.nodes.push_back({Bytes(32, 0x99), {HpkeCiphertext{Bytes(32, 1), Bytes(48, 2)}}});
  commit.path = std::move(path);
  return commit;
}

FramedContent sample_content(Sender sender, Content content) {
  return FramedContent{to_bytes("group"), 7, std::move(sender), to_bytes("aad"), std::move(content)};
}

PublicMessage sample_public_commit() {
  PublicMessage message;
  message.content = sample_content(Sender{MemberSender{LeafIndex(1)}}, sample_commit());
  message.auth = FramedContentAuthData{Bytes(64, 0xaa), Bytes(32, 0xbb)};
  message.membership_tag = Bytes(32, 0xcc);
  return message;
}

MlsMessage as_message(PublicMessage message) {
  return MlsMessage{ProtocolVersion::kMls10, std::move(message)};
}

template <typename T>
void expect_error(BytesView wire, const char* message, ErrorCategory category = ErrorCategory::kDecode) {
  auto decoded = tls::decode<T>(wire);
  ASSERT_FALSE(decoded.has_value()) << "decoded " << to_hex(wire);
  EXPECT_STREQ(decoded.error().message(), message);
  EXPECT_EQ(decoded.error().category(), category);
}

// --- Round trips -------------------------------------------------------------

TEST(Wire, EveryMessageKindRoundTrips) {
  GroupInfo info;
  info.group_context =
      GroupContext{ProtocolVersion::kMls10, kSuite, to_bytes("group"), 7, Bytes(32, 1), Bytes(32, 2), {}};
  info.confirmation_tag = Bytes(32, 3);
  info.signer = LeafIndex(2);
  info.signature = Bytes(64, 4);
  Welcome welcome{kSuite,
                  {EncryptedGroupSecrets{Bytes(32, 5), HpkeCiphertext{Bytes(32, 6), Bytes(40, 7)}}},
                  Bytes(100, 8)};
  PrivateMessage private_message{to_bytes("group"), 7, ContentType::kApplication, {}, Bytes(20, 9),
                                 Bytes(50, 10)};

  std::vector<MlsMessage> messages = {
      as_message(sample_public_commit()), MlsMessage{ProtocolVersion::kMls10, private_message},
      MlsMessage{ProtocolVersion::kMls10, welcome}, MlsMessage{ProtocolVersion::kMls10, info},
      MlsMessage{ProtocolVersion::kMls10, sample_key_package()}};
  std::vector<WireFormat> formats = {WireFormat::kPublicMessage, WireFormat::kPrivateMessage,
                                     WireFormat::kWelcome, WireFormat::kGroupInfo, WireFormat::kKeyPackage};
  for (std::size_t i = 0; i < messages.size(); ++i) {
    EXPECT_EQ(messages[i].wire_format(), formats[i]);
    Bytes wire = tls::encode(messages[i]);
    EXPECT_EQ(wire[0], 0x00);
    EXPECT_EQ(wire[1], 0x01);  // mls10
    EXPECT_EQ(wire[3], static_cast<std::uint8_t>(formats[i]));
    auto back = tls::decode<MlsMessage>(wire);
    ASSERT_TRUE(back.has_value()) << back.error().to_string();
    EXPECT_EQ(*back, messages[i]);
    EXPECT_EQ(tls::encode(*back), wire);
  }
}

TEST(Wire, SenderEncodingsFollowTheRfc) {
  EXPECT_EQ(tls::encode(Sender{MemberSender{LeafIndex(0x01020304)}}), hex("0101020304"));
  EXPECT_EQ(tls::encode(Sender{ExternalSenderIndex{5}}), hex("0200000005"));
  EXPECT_EQ(tls::encode(Sender{NewMemberProposalSender{}}), hex("03"));
  EXPECT_EQ(tls::encode(Sender{NewMemberCommitSender{}}), hex("04"));
  EXPECT_EQ(tls::decode<Sender>(hex("04")).value().sender_type(), SenderType::kNewMemberCommit);
}

TEST(Wire, TagsAreDerivedFromTheAlternativeHeld) {
  Commit commit = sample_commit();
  std::vector<ProposalType> types;
  for (const auto& p : commit.proposals) {
    if (const auto* proposal = std::get_if<Proposal>(&p.value)) types.push_back(proposal->proposal_type());
  }
  EXPECT_EQ(types,
            (std::vector<ProposalType>{ProposalType::kAdd, ProposalType::kRemove, ProposalType::kPsk,
                                       ProposalType::kPsk, ProposalType::kReinit, ProposalType::kExternalInit,
                                       ProposalType::kGroupContextExtensions, ProposalType::kUpdate}));
  EXPECT_EQ(commit.proposals.back().type(), ProposalOrRefType::kReference);
  EXPECT_EQ(commit.path->leaf_node.leaf_node_source(), LeafNodeSource::kCommit);
  EXPECT_EQ(sample_key_package().leaf_node.leaf_node_source(), LeafNodeSource::kKeyPackage);
  EXPECT_EQ(Credential{X509Credential{}}.credential_type(), CredentialType::kX509);
  EXPECT_EQ((PreSharedKeyId{ExternalPsk{}, {}}.psk_type()), PskType::kExternal);
}

TEST(Wire, X509CredentialCarriesItsChain) {
  Credential credential{X509Credential{{Certificate{Bytes{1, 2}}, Certificate{Bytes{3}}}}};
  Bytes wire = tls::encode(credential);
  EXPECT_EQ(wire, hex("0002"
                      "05"
                      "020102"
                      "0103"));
  EXPECT_EQ(tls::decode<Credential>(wire).value(), credential);
}

TEST(Wire, UnknownExtensionAndCapabilityValuesAreCarried) {
  // §13.4: unknown extensions and capabilities are ignored, not rejected.
  LeafNode leaf = sample_leaf(Lifetime{0, 1});
  auto back = tls::decode<LeafNode>(tls::encode(leaf)).value();
  EXPECT_EQ(back.capabilities.credentials.back(), CredentialType{0x4a4a});
  EXPECT_EQ(back.capabilities.proposals.front(), ProposalType{0x3a3a});
  EXPECT_NE(back.extensions.find(ExtensionType{0x2a2a}), nullptr);
  EXPECT_EQ(back.extensions.find(ExtensionType::kRatchetTree), nullptr);
}

TEST(Wire, ConfirmationTagOnlyForCommits) {
  PublicMessage commit = sample_public_commit();
  PublicMessage application;
  application.content = sample_content(Sender{MemberSender{LeafIndex(1)}}, ApplicationData{to_bytes("hi")});
  application.auth = FramedContentAuthData{Bytes(4, 0xaa), std::nullopt};
  application.membership_tag = Bytes(4, 0xcc);
  Bytes wire = tls::encode(application);
  // ... content | 03 aaaaaaaa (signature) | 04 cccccccc (membership tag), no tag in between.
  EXPECT_EQ(to_hex(BytesView(wire).last(10)), "04aaaaaaaa04cccccccc");
  auto back = tls::decode<PublicMessage>(wire).value();
  EXPECT_FALSE(back.auth.confirmation_tag.has_value());
  EXPECT_TRUE(tls::decode<PublicMessage>(tls::encode(commit)).value().auth.confirmation_tag.has_value());
}

TEST(Wire, MembershipTagOnlyForMembers) {
  PublicMessage external;
  external.content = sample_content(Sender{ExternalSenderIndex{0}}, Proposal{Remove{LeafIndex(1)}});
  external.auth = FramedContentAuthData{Bytes(4, 0xaa), std::nullopt};
  Bytes wire = tls::encode(external);
  EXPECT_EQ(to_hex(BytesView(wire).last(5)), "04aaaaaaaa");  // ends with the signature
  EXPECT_EQ(tls::decode<PublicMessage>(wire).value(), external);
  // A member's message cut before its membership tag is truncated.
  PublicMessage member = sample_public_commit();
  Bytes member_wire = tls::encode(member);
  member_wire.resize(member_wire.size() - 33);
  expect_error<PublicMessage>(member_wire, "input is truncated");
}

TEST(Wire, FramedContentTbsCarriesTheContextForMembersOnly) {
  GroupContext context{ProtocolVersion::kMls10, kSuite, to_bytes("group"), 7, {}, {}, {}};
  FramedContentTbs member{ProtocolVersion::kMls10, WireFormat::kPublicMessage,
                          sample_content(Sender{MemberSender{LeafIndex(0)}}, ApplicationData{}), context};
  FramedContentTbs external{ProtocolVersion::kMls10, WireFormat::kPublicMessage,
                            sample_content(Sender{NewMemberProposalSender{}}, Proposal{Remove{}}),
                            std::nullopt};
  for (const auto& tbs : {member, external}) {
    Bytes wire = tls::encode(tbs);
    EXPECT_EQ(tls::decode<FramedContentTbs>(wire).value(), tbs);
  }
  EXPECT_EQ(tls::encode(member), concat({hex("0001"
                                             "0001"),
                                         tls::encode(member.content), tls::encode(context)}));
  EXPECT_EQ(tls::encode(external), concat({hex("0001"
                                               "0001"),
                                           tls::encode(external.content)}));
  AuthenticatedContentTbm tbm{member, FramedContentAuthData{Bytes(3, 1), std::nullopt}};
  EXPECT_EQ(tls::decode<AuthenticatedContentTbm>(tls::encode(tbm)).value(), tbm);
}

TEST(Wire, FailedVerifyAbortsOnInconsistentEncode) {
  PublicMessage message = sample_public_commit();
  message.auth.confirmation_tag.reset();  // a commit without its tag: a caller bug
  EXPECT_DEATH((void)tls::encode(message), "confirmation_tag");
}

TEST(Wire, LeafNodeTbsBindsGroupOnlyOutsideKeyPackages) {
  LeafNode update = sample_leaf(LeafNodeUpdateSource{});
  LeafNode kp_leaf = sample_leaf(Lifetime{1, 2});
  Bytes update_tbs = tls::encode(LeafNodeTbs::of(update, to_bytes("g"), LeafIndex(4)));
  Bytes kp_tbs = tls::encode(LeafNodeTbs::of(kp_leaf, to_bytes("g"), LeafIndex(4)));
  // The update TBS is the leaf without its signature, then 01 67 ("g") and 00000004.
  Bytes leaf_wire = tls::encode(update);
  // 66: the 64-byte signature and its 2-byte length header.
  Bytes unsigned_part(leaf_wire.begin(), leaf_wire.end() - 66);
  EXPECT_EQ(update_tbs, concat({unsigned_part, hex("016700000004")}));
  Bytes kp_leaf_wire = tls::encode(kp_leaf);
  EXPECT_EQ(kp_tbs, Bytes(kp_leaf_wire.begin(), kp_leaf_wire.end() - 66));
  EXPECT_EQ(tls::encode(tls::decode<LeafNodeTbs>(update_tbs).value()), update_tbs);
  EXPECT_EQ(tls::encode(tls::decode<LeafNodeTbs>(kp_tbs).value()), kp_tbs);
  // KeyPackageTbs and GroupInfoTbs are the signed struct minus its signature.
  KeyPackage kp = sample_key_package();
  Bytes kp_wire = tls::encode(kp);
  EXPECT_EQ(tls::encode(KeyPackageTbs::of(kp)), Bytes(kp_wire.begin(), kp_wire.end() - 66));
}

TEST(Wire, GroupSecretsKeepSecretsInSecretBytes) {
  GroupSecrets secrets;
  secrets.joiner_secret = SecretBytes::copy_of(Bytes(32, 1));
  secrets.path_secret = PathSecret{SecretBytes::copy_of(Bytes(32, 2))};
  secrets.psks.push_back(PreSharedKeyId{ExternalPsk{to_bytes("x")}, Bytes(32, 3)});
  Bytes wire = tls::encode(secrets);
  auto back = tls::decode<GroupSecrets>(wire);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(*back == secrets);
  EXPECT_EQ(tls::encode(*back), wire);
}

// --- Bad input -----------------------------------------------------------------

TEST(WireBadInput, EveryTruncationFails) {
  Bytes wire = tls::encode(as_message(sample_public_commit()));
  for (std::size_t n = 0; n < wire.size(); ++n) {
    EXPECT_FALSE(tls::decode<MlsMessage>(BytesView(wire).first(n)).has_value()) << n << " bytes decoded";
  }
}

TEST(WireBadInput, TrailingBytes) {
  Bytes wire = tls::encode(as_message(sample_public_commit()));
  wire.push_back(0);
  expect_error<MlsMessage>(wire, "trailing bytes after the end of the structure");
  Bytes kp = tls::encode(sample_key_package());
  kp.push_back(0);
  expect_error<KeyPackage>(kp, "trailing bytes after the end of the structure");
}

TEST(WireBadInput, OverLongVector) {
  // mls10, private message, group_id claims 6 bytes of a 5-byte input tail.
  expect_error<MlsMessage>(hex("0001"
                               "0002"
                               "06"
                               "6772"
                               "6f75"),
                           "vector length exceeds the remaining input");
  // A length header claiming 1 GiB must fail before allocating.
  expect_error<MlsMessage>(hex("0001"
                               "0002"
                               "bfffffff"),
                           "vector length exceeds the remaining input");
}

TEST(WireBadInput, NonMinimalLengthHeader) {
  Bytes wire = tls::encode(MlsMessage{
      ProtocolVersion::kMls10, PrivateMessage{to_bytes("g"), 1, ContentType::kApplication, {}, {}, {}}});
  // group_id length 1 as the two-byte header 4001.
  Bytes bad = concat({BytesView(wire).first(4), hex("4001"), BytesView(wire).subspan(5)});
  expect_error<MlsMessage>(bad, "length header is not minimally encoded");
}

TEST(WireBadInput, UnsupportedVersionAndWireFormat) {
  Bytes private_body =
      hex("00"
          "0000000000000000"
          "01"
          "00"
          "00"
          "00");
  EXPECT_TRUE(tls::decode<MlsMessage>(concat({hex("00010002"), private_body})).has_value());
  for (const char* version : {"0000", "0002", "0a0a"}) {
    expect_error<MlsMessage>(concat({hex(version), hex("0002"), private_body}),
                             "unsupported protocol version", ErrorCategory::kUnsupported);
  }
  for (const char* format : {"0000", "0006", "f000", "ffff"}) {
    expect_error<MlsMessage>(concat({hex("0001"), hex(format), private_body}), "unsupported wire format",
                             ErrorCategory::kUnsupported);
  }
}

TEST(WireBadInput, KeyPackageVersionMustMatchTheMessage) {
  KeyPackage kp = sample_key_package();
  kp.version = ProtocolVersion{2};
  EXPECT_TRUE(tls::decode<KeyPackage>(tls::encode(kp)).has_value());  // alone it is carried
  expect_error<MlsMessage>(tls::encode(MlsMessage{ProtocolVersion::kMls10, kp}),
                           "key package version differs from the message version");
}

TEST(WireBadInput, BadOptionalFlag) {
  Commit commit;  // no proposals, no path: 00 00
  EXPECT_EQ(tls::encode(commit), hex("0000"));
  expect_error<Commit>(hex("0002"), "optional presence flag is neither 0 nor 1");
  expect_error<Commit>(hex("00ff"), "optional presence flag is neither 0 nor 1");
  // optional<Node> in a ratchet tree.
  expect_error<RatchetTree>(hex("0102"), "optional presence flag is neither 0 nor 1");
}

TEST(WireBadInput, UnknownClosedEnumValues) {
  expect_error<Sender>(hex("00"), "unknown sender type");
  expect_error<Sender>(hex("05"), "unknown sender type");
  Bytes content_prefix =
      hex("0167"
          "0000000000000001"
          "0100000000"
          "00");
  expect_error<FramedContent>(concat({content_prefix, hex("00")}), "unknown content type");
  expect_error<FramedContent>(concat({content_prefix, hex("04")}), "unknown content type");
  EXPECT_TRUE(tls::decode<FramedContent>(concat({content_prefix, hex("0100")})).has_value());
  // PrivateMessage.content_type is a plain field, checked by the codec.
  expect_error<PrivateMessage>(hex("00"
                                   "0000000000000000"
                                   "00"
                                   "00"
                                   "00"
                                   "00"),
                               "unknown enum value");
  expect_error<PrivateMessage>(hex("00"
                                   "0000000000000000"
                                   "04"
                                   "00"
                                   "00"
                                   "00"),
                               "unknown enum value");
  expect_error<PreSharedKeyId>(hex("00"
                                   "00"),
                               "unknown PSK type");
  expect_error<PreSharedKeyId>(hex("03"
                                   "00"),
                               "unknown PSK type");
  expect_error<PreSharedKeyId>(hex("02"
                                   "04"
                                   "00"
                                   "0000000000000000"
                                   "00"),
                               "unknown enum value");
  expect_error<ProposalOrRef>(hex("03"
                                  "00"),
                              "unknown proposal-or-reference type");
  expect_error<Node>(hex("03"), "unknown node type");

  LeafNode leaf = sample_leaf(LeafNodeUpdateSource{});
  Bytes wire = tls::encode(leaf);
  // The source byte follows the keys, credential and capabilities.
  std::size_t at = tls::encode(leaf.encryption_key).size() + tls::encode(leaf.signature_key).size() +
                   tls::encode(leaf.credential).size() + tls::encode(leaf.capabilities).size();
  ASSERT_EQ(wire[at], 0x02);
  wire[at] = 0x04;
  expect_error<LeafNode>(wire, "unknown leaf node source");
}

TEST(WireBadInput, UnsupportedRegistryValuesThatSelectALayout) {
  // Proposal and credential types pick the body's layout, and §13.5 forbids
  // GREASE in them: reject, with kUnsupported.
  for (const char* type : {"0000", "0008", "0a0a", "f000"}) {
    expect_error<Proposal>(concat({hex(type), hex("00000000")}), "unsupported proposal type",
                           ErrorCategory::kUnsupported);
  }
  for (const char* type : {"0000", "0003", "0a0a", "ffff"}) {
    expect_error<Credential>(concat({hex(type), hex("00")}), "unsupported credential type",
                             ErrorCategory::kUnsupported);
  }
}

TEST(WireBadInput, DuplicateExtensionTypes) {
  // Two application_id extensions.
  expect_error<ExtensionList>(hex("08"
                                  "0001"
                                  "01aa"
                                  "0001"
                                  "01bb"),
                              "duplicate extension type in an extension list");
  // The same GREASE type twice is no better.
  expect_error<GroupContextExtensions>(hex("06"
                                           "0a0a"
                                           "00"
                                           "0a0a"
                                           "00"),
                                       "duplicate extension type in an extension list");
  EXPECT_TRUE(tls::decode<ExtensionList>(hex("06"
                                             "0001"
                                             "00"
                                             "0a0a"
                                             "00"))
                  .has_value());
}

TEST(WireBadInput, RatchetTreeShape) {
  LeafNode leaf = sample_leaf(Lifetime{0, 1});
  ParentNode parent{Bytes(32, 1), {}, {LeafIndex(1)}};
  RatchetTree good{{Node{leaf}, std::nullopt, Node{leaf}}};
  EXPECT_EQ(tls::decode<RatchetTree>(tls::encode(good)).value(), good);
  expect_error<RatchetTree>(hex("00"), "ratchet tree has no nodes");
  RatchetTree trailing_blank{{Node{leaf}, std::nullopt}};
  expect_error<RatchetTree>(tls::encode(trailing_blank), "ratchet tree ends with a blank node");
  RatchetTree parent_at_leaf{{Node{parent}}};
  expect_error<RatchetTree>(tls::encode(parent_at_leaf),
                            "ratchet tree node type does not match its position");
  RatchetTree leaf_at_parent{{Node{leaf}, Node{leaf}, Node{leaf}}};
  expect_error<RatchetTree>(tls::encode(leaf_at_parent),
                            "ratchet tree node type does not match its position");
}

TEST(WireBadInput, PrivateMessageContentPadding) {
  PrivateMessageContent content{ApplicationData{to_bytes("hi")},
                                FramedContentAuthData{Bytes(3, 0xaa), std::nullopt}, 5};
  Bytes plaintext = content.encode();
  EXPECT_EQ(plaintext, hex("026869"
                           "03aaaaaa"
                           "0000000000"));
  auto back = PrivateMessageContent::decode(plaintext, ContentType::kApplication);
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_EQ(back->padding_length, 5u);
  EXPECT_EQ(*back, content);
  EXPECT_EQ(back->encode(), plaintext);

  for (std::size_t i = plaintext.size() - 5; i < plaintext.size(); ++i) {
    Bytes bad = plaintext;
    bad[i] = 0x01;
    auto r = PrivateMessageContent::decode(bad, ContentType::kApplication);
    ASSERT_FALSE(r.has_value());
    EXPECT_STREQ(r.error().message(), "non-zero padding in PrivateMessageContent");
  }
  // The same bytes read as a commit are not a commit.
  EXPECT_FALSE(PrivateMessageContent::decode(plaintext, ContentType::kCommit).has_value());
  auto reserved = PrivateMessageContent::decode(plaintext, ContentType::kReserved);
  ASSERT_FALSE(reserved.has_value());
  EXPECT_STREQ(reserved.error().message(), "unknown content type");

  // A commit's content carries its confirmation tag before the padding.
  PrivateMessageContent commit{sample_commit(), FramedContentAuthData{Bytes(3, 1), Bytes(2, 2)}, 0};
  auto commit_back = PrivateMessageContent::decode(commit.encode(), ContentType::kCommit);
  ASSERT_TRUE(commit_back.has_value()) << commit_back.error().to_string();
  EXPECT_EQ(*commit_back, commit);
}

}  // namespace
}  // namespace pmos::mls

#include "pmos/chat/envelope.h"

#include <gtest/gtest.h>

namespace pmos::chat {
namespace {

Envelope round_trip(const Envelope& e) {
  Bytes wire = tls::encode(e);
  auto back = tls::decode<Envelope>(wire);
  EXPECT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_EQ(tls::encode(*back), wire);
  return *back;
}

TEST(Envelope, TextRoundTrips) {
  Envelope e;
  e.id = new_message_id();
  e.sent_at_ms = 1234567;
  e.expires_after_s = 60;
  e.body.emplace<0>(TextBody{"hello", new_message_id()});
  Envelope back = round_trip(e);
  EXPECT_EQ(back.kind(), EnvelopeKind::kText);
  EXPECT_EQ(std::get<0>(back.body).text, "hello");
  EXPECT_EQ(std::get<0>(back.body).reply_to, std::get<0>(e.body).reply_to);
  EXPECT_EQ(back.id, e.id);
  EXPECT_EQ(back.expires_after_s, 60u);
}

TEST(Envelope, EveryKindRoundTrips) {
  Envelope e;
  e.id = new_message_id();
  e.body.emplace<1>(EditBody{new_message_id(), "fixed"});
  EXPECT_EQ(round_trip(e).kind(), EnvelopeKind::kEdit);
  e.body.emplace<2>(DeleteBody{new_message_id()});
  EXPECT_EQ(round_trip(e).kind(), EnvelopeKind::kDelete);
  e.body.emplace<3>(ReceiptBody{{new_message_id(), new_message_id()}});
  EXPECT_EQ(round_trip(e).kind(), EnvelopeKind::kDelivered);
  e.body.emplace<4>(ReceiptBody{{new_message_id()}});
  EXPECT_EQ(round_trip(e).kind(), EnvelopeKind::kRead);
  AttachmentBody a;
  a.attachment_id = Bytes(16, 7);
  a.size = 99;
  a.file_name = "photo.jpg";
  a.media_type = "image/jpeg";
  a.caption = "look";
  e.body.emplace<5>(a);
  Envelope back = round_trip(e);
  ASSERT_EQ(back.kind(), EnvelopeKind::kAttachment);
  EXPECT_EQ(std::get<5>(back.body).file_name, "photo.jpg");
  EXPECT_EQ(std::get<5>(back.body).size, 99u);
}

TEST(Envelope, StrictDecoding) {
  Envelope e;
  e.id = new_message_id();
  e.body.emplace<0>(TextBody{"hi", std::nullopt});
  Bytes wire = tls::encode(e);
  Bytes trailing = wire;
  trailing.push_back(0);
  EXPECT_FALSE(tls::decode<Envelope>(trailing).has_value());
  for (std::size_t cut = 0; cut < wire.size(); ++cut)
    EXPECT_FALSE(tls::decode<Envelope>(BytesView(wire).first(cut)).has_value()) << cut;
  Bytes bad_version = wire;
  bad_version[0] = 2;
  EXPECT_FALSE(tls::decode<Envelope>(bad_version).has_value());
  Bytes bad_kind = wire;
  bad_kind[1 + 16 + 8 + 4] = 9;
  EXPECT_FALSE(tls::decode<Envelope>(bad_kind).has_value());
  bad_kind[1 + 16 + 8 + 4] = 0;
  EXPECT_FALSE(tls::decode<Envelope>(bad_kind).has_value());
  // A reply_to flag other than 0/1.
  Bytes bad_flag = wire;
  bad_flag.back() = 2;
  EXPECT_FALSE(tls::decode<Envelope>(bad_flag).has_value());
}

TEST(Envelope, LimitsAreEnforced) {
  Envelope e;
  e.body.emplace<0>(TextBody{std::string(kMaxTextBytes + 1, 'x'), std::nullopt});
  EXPECT_FALSE(tls::decode<Envelope>(tls::encode(e)).has_value());
  e.body.emplace<3>(ReceiptBody{});
  EXPECT_FALSE(tls::decode<Envelope>(tls::encode(e)).has_value());
  AttachmentBody a;
  a.attachment_id = Bytes(16, 1);
  a.file_name = "../etc/passwd";
  e.body.emplace<5>(a);
  EXPECT_FALSE(tls::decode<Envelope>(tls::encode(e)).has_value());
  a.file_name = "ok";
  a.attachment_id.clear();
  e.body.emplace<5>(a);
  EXPECT_FALSE(tls::decode<Envelope>(tls::encode(e)).has_value());
}

TEST(ConversationInfo, RoundTripsAndIsStrict) {
  ConversationInfo info{"unit 7", 3600};
  Bytes wire = tls::encode(info);
  auto back = tls::decode<ConversationInfo>(wire);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->name, "unit 7");
  EXPECT_EQ(back->disappear_s, 3600u);
  wire.push_back(1);
  EXPECT_FALSE(tls::decode<ConversationInfo>(wire).has_value());
  info.name = std::string(kMaxNameBytes + 1, 'n');
  EXPECT_FALSE(tls::decode<ConversationInfo>(tls::encode(info)).has_value());
}

}  // namespace
}  // namespace pmos::chat

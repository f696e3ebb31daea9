// RFC 9180 test vectors: every entry (128: four modes x KEMs x KDFs x AEADs),
// every encryption and every export, in both directions.
#include <gtest/gtest.h>

#include "pmos/crypto/hpke.h"
#include "pmos/testing/vectors.h"

namespace pmos::crypto {
namespace {

using testing::hex_field;

// The key pair of party `who` ("R", "E" or "S"): checks that DeriveKeyPair
// and DeserializePrivateKey both give the vector's keys.
PrivateKey key_pair(const Kem& kem, const nlohmann::json& v, const std::string& who) {
  Bytes ikm = hex_field(v, ("ikm" + who).c_str());
  Bytes sk = hex_field(v, ("sk" + who + "m").c_str());
  Bytes pk = hex_field(v, ("pk" + who + "m").c_str());
  auto derived = kem.derive_key_pair(ikm);
  EXPECT_TRUE(derived.has_value()) << who << ": " << derived.error().to_string();
  if (!derived) return {};
  EXPECT_EQ(to_hex(derived->private_bytes()), to_hex(sk)) << "DeriveKeyPair sk" << who;
  EXPECT_EQ(to_hex(derived->public_key().bytes()), to_hex(pk)) << "DeriveKeyPair pk" << who;
  auto imported = kem.private_key(sk);
  EXPECT_TRUE(imported.has_value());
  if (imported) {
    EXPECT_EQ(to_hex(imported->public_key().bytes()), to_hex(pk)) << "pk of sk" << who;
  }
  return derived.release_value();
}

TEST(HpkeVectors, AllModesSuitesEncryptionsAndExports) {
  PMOS_LOAD_VECTORS(vectors, "hpke/test-vectors.json");
  int entries = 0, encryptions = 0, exports = 0;
  for (const auto& v : vectors) {
    auto mode = v.at("mode").get<int>();
    auto kem_id = v.at("kem_id").get<std::uint16_t>();
    auto kdf_id = v.at("kdf_id").get<std::uint16_t>();
    auto aead_id = v.at("aead_id").get<std::uint16_t>();
    SCOPED_TRACE("mode " + std::to_string(mode) + " kem " + std::to_string(kem_id) + " kdf " +
                 std::to_string(kdf_id) + " aead " + std::to_string(aead_id));
    auto hpke = Hpke::create(kem_id, kdf_id, aead_id);
    ASSERT_TRUE(hpke.has_value()) << hpke.error().to_string();

    PrivateKey recipient = key_pair(hpke->kem(), v, "R");
    PrivateKey ephemeral = key_pair(hpke->kem(), v, "E");
    PrivateKey sender;
    Bytes psk, psk_id;
    if (mode == 1 || mode == 3) {
      psk = hex_field(v, "psk");
      psk_id = hex_field(v, "psk_id");
    }
    if (mode == 2 || mode == 3) sender = key_pair(hpke->kem(), v, "S");
    ASSERT_FALSE(recipient.empty());
    ASSERT_FALSE(ephemeral.empty());

    Bytes info = hex_field(v, "info");
    HpkeSenderOptions send_options{psk, psk_id, sender.empty() ? nullptr : &sender, &ephemeral};
    HpkeReceiverOptions receive_options{psk, psk_id, sender.empty() ? nullptr : &sender.public_key()};

    auto s = hpke->setup_sender(recipient.public_key(), info, send_options);
    ASSERT_TRUE(s.has_value()) << s.error().to_string();
    EXPECT_EQ(to_hex(s->enc), v.at("enc").get<std::string>());
    EXPECT_EQ(to_hex(s->context.key()), v.at("key").get<std::string>());
    EXPECT_EQ(to_hex(s->context.base_nonce()), v.at("base_nonce").get<std::string>());
    EXPECT_EQ(to_hex(s->context.exporter_secret()), v.at("exporter_secret").get<std::string>());

    auto r = hpke->setup_receiver(s->enc, recipient, info, receive_options);
    ASSERT_TRUE(r.has_value()) << r.error().to_string();

    for (const auto& e : v.at("encryptions")) {
      Bytes aad = hex_field(e, "aad");
      Bytes pt = hex_field(e, "pt");
      auto ct = s->context.seal(aad, pt);
      ASSERT_TRUE(ct.has_value()) << ct.error().to_string();
      EXPECT_EQ(to_hex(*ct), e.at("ct").get<std::string>());
      auto opened = r->open(aad, *ct);
      ASSERT_TRUE(opened.has_value()) << opened.error().to_string();
      EXPECT_EQ(*opened, pt);
      ++encryptions;
    }
    for (const auto& x : v.at("exports")) {
      Bytes context = hex_field(x, "exporter_context");
      auto length = x.at("L").get<std::size_t>();
      auto mine = s->context.export_secret(context, length);
      auto theirs = r->export_secret(context, length);
      ASSERT_TRUE(mine.has_value() && theirs.has_value());
      EXPECT_EQ(to_hex(*mine), x.at("exported_value").get<std::string>());
      EXPECT_TRUE(*mine == *theirs);
      ++exports;
    }
    ++entries;
  }
  EXPECT_EQ(entries, 128);
  EXPECT_GT(encryptions, 0);
  EXPECT_GT(exports, 0);
  RecordProperty("entries", entries);
  RecordProperty("encryptions", encryptions);
  RecordProperty("exports", exports);
  std::printf("HPKE vectors: %d entries, %d encryptions, %d exports checked\n", entries, encryptions, exports);
}

}  // namespace
}  // namespace pmos::crypto

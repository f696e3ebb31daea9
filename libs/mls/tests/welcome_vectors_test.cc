// mls/welcome.json: open a Welcome with the joiner's key package and init key,
// check the GroupInfo's signature and confirmation tag; then tampering.
#include "pmos/mls/welcome_crypto.h"

#include <gtest/gtest.h>

#include "pmos/mls/mls_message.h"
#include "pmos/testing/vectors.h"

namespace pmos::mls {
namespace {

using testing::hex_field;

struct Case {
  crypto::CipherSuite suite;
  crypto::PrivateKey init_key;
  crypto::PublicKey signer;
  KeyPackage key_package;
  Welcome welcome;
};

Case case_of(const nlohmann::json& v) {
  auto suite = crypto::CipherSuite::from_id(v.at("cipher_suite").get<std::uint16_t>()).value();
  auto kp = tls::decode<MlsMessage>(hex_field(v, "key_package")).value();
  auto welcome = tls::decode<MlsMessage>(hex_field(v, "welcome")).value();
  return Case{suite, suite.kem().private_key(hex_field(v, "init_priv")).value(),
              suite.signature().public_key(hex_field(v, "signer_pub")).value(),
              std::get<KeyPackage>(kp.message), std::get<Welcome>(welcome.message)};
}

TEST(WelcomeVectors, EverySuite) {
  PMOS_LOAD_VECTORS(vectors, "mls/welcome.json");
  int checked = 0;
  for (const auto& v : vectors) {
    Case c = case_of(v);
    SCOPED_TRACE("cipher suite " + std::to_string(c.suite.id()));
    auto opened = open_welcome(c.suite, c.welcome, c.key_package, c.init_key);
    ASSERT_TRUE(opened.has_value()) << opened.error().to_string();
    EXPECT_TRUE(verify_group_info(c.suite, opened->group_info, c.signer).has_value());
    ++checked;
  }
  ASSERT_GT(checked, 0);
  std::printf("welcome: %d entries checked\n", checked);
}

TEST(WelcomeVectors, TamperingAndWrongKeysAreRefused) {
  PMOS_LOAD_VECTORS(vectors, "mls/welcome.json");
  Case c = case_of(vectors.at(0));

  Welcome tampered = c.welcome;
  tampered.encrypted_group_info[tampered.encrypted_group_info.size() / 2] ^= 1;
  auto r = open_welcome(c.suite, tampered, c.key_package, c.init_key);
  ASSERT_FALSE(r.has_value());
  // The encrypted GroupInfo is the HPKE context of the group secrets, so the
  // first thing to fail is the group secrets.
  EXPECT_STREQ(r.error().message(), "Welcome group secrets do not decrypt with this key package's init key");

  tampered = c.welcome;
  tampered.secrets.at(0).new_member[0] ^= 1;
  r = open_welcome(c.suite, tampered, c.key_package, c.init_key);
  ASSERT_FALSE(r.has_value());
  EXPECT_STREQ(r.error().message(), "Welcome holds no group secrets for this key package");

  auto stranger = c.suite.kem().generate().value();
  r = open_welcome(c.suite, c.welcome, c.key_package, stranger);
  ASSERT_FALSE(r.has_value());
  EXPECT_STREQ(r.error().message(), "init key does not belong to this key package");

  auto opened = open_welcome(c.suite, c.welcome, c.key_package, c.init_key).value();
  GroupInfo info = opened.group_info;
  info.group_context.epoch += 1;
  EXPECT_FALSE(verify_group_info(c.suite, info, c.signer).has_value());
}

}  // namespace
}  // namespace pmos::mls

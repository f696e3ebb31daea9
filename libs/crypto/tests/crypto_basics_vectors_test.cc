// mls/crypto-basics.json: the labelled operations of RFC 9420 for every suite.
#include <gtest/gtest.h>

#include "pmos/crypto/cipher_suite.h"
#include "pmos/testing/vectors.h"

namespace pmos::crypto {
namespace {

using testing::hex_field;

TEST(CryptoBasicsVectors, EverySuite) {
  PMOS_LOAD_VECTORS(vectors, "mls/crypto-basics.json");
  int suites = 0;
  for (const auto& v : vectors) {
    auto id = v.at("cipher_suite").get<std::uint16_t>();
    SCOPED_TRACE("cipher suite " + std::to_string(id));
    auto suite = CipherSuite::from_id(id);
    ASSERT_TRUE(suite.has_value()) << suite.error().to_string();

    const auto& ref = v.at("ref_hash");
    EXPECT_EQ(to_hex(suite->ref_hash(ref.at("label").get<std::string>(), hex_field(ref, "value"))),
              ref.at("out").get<std::string>());

    const auto& expand = v.at("expand_with_label");
    auto expanded = suite->expand_with_label(hex_field(expand, "secret"), expand.at("label").get<std::string>(),
                                             hex_field(expand, "context"), expand.at("length").get<std::uint16_t>());
    ASSERT_TRUE(expanded.has_value()) << expanded.error().to_string();
    EXPECT_EQ(to_hex(*expanded), expand.at("out").get<std::string>());

    const auto& derive = v.at("derive_secret");
    auto derived = suite->derive_secret(hex_field(derive, "secret"), derive.at("label").get<std::string>());
    ASSERT_TRUE(derived.has_value());
    EXPECT_EQ(to_hex(*derived), derive.at("out").get<std::string>());

    const auto& tree = v.at("derive_tree_secret");
    auto tree_secret = suite->derive_tree_secret(hex_field(tree, "secret"), tree.at("label").get<std::string>(),
                                                 tree.at("generation").get<std::uint32_t>(),
                                                 tree.at("length").get<std::uint16_t>());
    ASSERT_TRUE(tree_secret.has_value());
    EXPECT_EQ(to_hex(*tree_secret), tree.at("out").get<std::string>());

    // The vector's signature verifies; ours verifies too (ECDSA is randomised,
    // so we cannot compare bytes); a flipped bit does not.
    const auto& sign = v.at("sign_with_label");
    std::string sign_label = sign.at("label").get<std::string>();
    Bytes content = hex_field(sign, "content");
    auto signer = suite->signature().private_key(hex_field(sign, "priv"));
    ASSERT_TRUE(signer.has_value()) << signer.error().to_string();
    EXPECT_EQ(to_hex(signer->public_key().bytes()), sign.at("pub").get<std::string>());
    auto verifier = suite->signature().public_key(hex_field(sign, "pub"));
    ASSERT_TRUE(verifier.has_value());
    Bytes their_signature = hex_field(sign, "signature");
    EXPECT_TRUE(suite->verify_with_label(*verifier, sign_label, content, their_signature).has_value());
    auto our_signature = suite->sign_with_label(*signer, sign_label, content);
    ASSERT_TRUE(our_signature.has_value());
    EXPECT_TRUE(suite->verify_with_label(*verifier, sign_label, content, *our_signature).has_value());
    their_signature[their_signature.size() / 2] ^= 1;
    EXPECT_FALSE(suite->verify_with_label(*verifier, sign_label, content, their_signature).has_value());
    EXPECT_FALSE(suite->verify_with_label(*verifier, "OtherLabel", content, *our_signature).has_value());

    const auto& enc = v.at("encrypt_with_label");
    std::string enc_label = enc.at("label").get<std::string>();
    auto recipient = suite->kem().private_key(hex_field(enc, "priv"));
    ASSERT_TRUE(recipient.has_value()) << recipient.error().to_string();
    EXPECT_EQ(to_hex(recipient->public_key().bytes()), enc.at("pub").get<std::string>());
    Bytes context = hex_field(enc, "context");
    Bytes plaintext = hex_field(enc, "plaintext");
    auto opened = suite->decrypt_with_label(*recipient, enc_label, context, hex_field(enc, "kem_output"),
                                            hex_field(enc, "ciphertext"));
    ASSERT_TRUE(opened.has_value()) << opened.error().to_string();
    EXPECT_EQ(*opened, plaintext);
    auto sealed = suite->encrypt_with_label(recipient->public_key(), enc_label, context, plaintext);
    ASSERT_TRUE(sealed.has_value());
    auto reopened = suite->decrypt_with_label(*recipient, enc_label, context, sealed->kem_output, sealed->ciphertext);
    ASSERT_TRUE(reopened.has_value());
    EXPECT_EQ(*reopened, plaintext);
    EXPECT_FALSE(suite->decrypt_with_label(*recipient, "Other", context, sealed->kem_output, sealed->ciphertext)
                     .has_value());
    ++suites;
  }
  EXPECT_EQ(suites, 7);
  RecordProperty("suites", suites);
  std::printf("crypto-basics: %d cipher suites checked\n", suites);
}

TEST(CipherSuite, UnknownSuitesAreUnsupported) {
  auto suite = CipherSuite::from_id(0x0008);
  ASSERT_FALSE(suite.has_value());
  EXPECT_EQ(suite.error().category(), ErrorCategory::kUnsupported);
  EXPECT_FALSE(CipherSuite::from_id(0x0000).has_value());
  EXPECT_EQ(CipherSuite::supported_ids().size(), 7u);
}

TEST(CipherSuite, ComponentsMatchTheRegistry) {
  auto suite = CipherSuite::from_id(7).value();
  EXPECT_EQ(suite.name(), "MLS_256_DHKEMP384_AES256GCM_SHA384_P384");
  EXPECT_EQ(suite.hash().size(), 48u);
  EXPECT_EQ(suite.kem().id(), 0x0011);
  EXPECT_EQ(suite.aead().id(), 0x0002);
  EXPECT_EQ(suite.signature().id(), 0x0503);
  EXPECT_EQ(suite.hpke().kdf().kdf_id(), 0x0002);
}

}  // namespace
}  // namespace pmos::crypto

#include "pmos/crypto/signature.h"

#include <gtest/gtest.h>

#include "pmos/crypto/kem.h"
#include "pmos/crypto/signer.h"

namespace pmos::crypto {
namespace {

class SignatureTest : public ::testing::TestWithParam<const SignatureScheme*> {};

TEST_P(SignatureTest, SignsVerifiesAndRefusesTampering) {
  const SignatureScheme& scheme = *GetParam();
  PrivateKey key = scheme.generate().value();
  Bytes message = to_bytes("install com.agency.radio 42");
  Bytes signature = scheme.sign(key, message).value();
  EXPECT_TRUE(scheme.verify(key.public_key(), message, signature).has_value());

  Bytes other_message = message;
  other_message.back() ^= 1;
  auto bad = scheme.verify(key.public_key(), other_message, signature);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().category(), ErrorCategory::kCrypto);

  for (std::size_t i = 0; i < signature.size(); i += 7) {
    Bytes tampered = signature;
    tampered[i] ^= 0x80;
    EXPECT_FALSE(scheme.verify(key.public_key(), message, tampered).has_value()) << "byte " << i;
  }
  Bytes extended = signature;
  extended.push_back(0);
  EXPECT_FALSE(scheme.verify(key.public_key(), message, extended).has_value());
  EXPECT_FALSE(scheme.verify(key.public_key(), message, {}).has_value());

  PrivateKey stranger = scheme.generate().value();
  EXPECT_FALSE(scheme.verify(stranger.public_key(), message, signature).has_value());
}

TEST_P(SignatureTest, KeysRoundTripThroughTheirEncoding) {
  const SignatureScheme& scheme = *GetParam();
  PrivateKey key = scheme.generate().value();
  PrivateKey again = scheme.private_key(key.private_bytes()).value();
  EXPECT_EQ(again.public_key(), key.public_key());
  PublicKey pub = scheme.public_key(key.public_key().bytes()).value();
  Bytes signature = scheme.sign(again, to_bytes("m")).value();
  EXPECT_TRUE(scheme.verify(pub, to_bytes("m"), signature).has_value());
}

TEST_P(SignatureTest, WrongLengthsAndForeignKeysAreErrors) {
  const SignatureScheme& scheme = *GetParam();
  PrivateKey key = scheme.generate().value();
  Bytes pub = to_bytes(key.public_key().bytes());
  EXPECT_FALSE(scheme.public_key(BytesView(pub).first(pub.size() - 1)).has_value());
  pub.push_back(0);
  EXPECT_FALSE(scheme.public_key(pub).has_value());
  EXPECT_FALSE(scheme.private_key(Bytes(key.private_bytes().size() + 1, 1)).has_value());
  EXPECT_FALSE(scheme.private_key({}).has_value());

  // A KEM key is not a signature key, even where the curve is the same.
  PrivateKey kem_key = dhkem_x25519().generate().value();
  auto misuse = scheme.sign(kem_key, to_bytes("m"));
  ASSERT_FALSE(misuse.has_value());
  EXPECT_EQ(misuse.error().category(), ErrorCategory::kInvalidArgument);
  EXPECT_FALSE(scheme.sign(PrivateKey{}, to_bytes("m")).has_value());
  EXPECT_FALSE(scheme.verify(PublicKey{}, to_bytes("m"), Bytes(64, 0)).has_value());
}

TEST_P(SignatureTest, ASignerSignsManyMessagesAsTheSchemeDoes) {
  const SignatureScheme& scheme = *GetParam();
  PrivateKey key = scheme.generate().value();
  Signer signer = Signer::create(scheme, key).value();
  EXPECT_EQ(&signer.scheme(), &scheme);
  EXPECT_EQ(signer.public_key(), key.public_key());
  // Each signature works on its own copy of the prepared context: the
  // second and later ones (and an empty message) must verify too.
  for (const char* text : {"launch com.agency.radio", "", "exit com.agency.radio 0", "launch com.agency.radio"}) {
    Bytes message = to_bytes(text);
    Bytes signature = signer.sign(message).value();
    EXPECT_TRUE(scheme.verify(key.public_key(), message, signature).has_value()) << text;
    Bytes other = message;
    other.push_back('!');
    EXPECT_FALSE(scheme.verify(key.public_key(), other, signature).has_value()) << text;
    // EdDSA is deterministic: the very same bytes as the one-shot path.
    if (scheme.id() == ed25519().id() || scheme.id() == ed448().id()) {
      EXPECT_EQ(signature, scheme.sign(key, message).value()) << text;
    }
  }
  Signer moved = std::move(signer);
  EXPECT_TRUE(scheme.verify(key.public_key(), to_bytes("m"), moved.sign(to_bytes("m")).value()).has_value());
}

TEST_P(SignatureTest, ASignerRefusesEmptyAndForeignKeys) {
  const SignatureScheme& scheme = *GetParam();
  auto empty = Signer::create(scheme, PrivateKey{});
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().category(), ErrorCategory::kInvalidArgument);
  auto kem = Signer::create(scheme, dhkem_x25519().generate().value());
  ASSERT_FALSE(kem.has_value());
  EXPECT_EQ(kem.error().category(), ErrorCategory::kInvalidArgument);
  const SignatureScheme& other = &scheme == &ed25519() ? ecdsa_p256_sha256() : ed25519();
  EXPECT_FALSE(Signer::create(scheme, other.generate().value()).has_value());
}

INSTANTIATE_TEST_SUITE_P(All, SignatureTest,
                         ::testing::Values(&ed25519(), &ed448(), &ecdsa_p256_sha256(), &ecdsa_p384_sha384(),
                                           &ecdsa_p521_sha512()),
                         [](const auto& param_info) {
                           std::string name(param_info.param->name());
                           std::erase_if(name, [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); });
                           return name;
                         });

// SM2 has no prepared context (its distinguishing ID is set per call): the
// Signer signs through the scheme, and still refuses a foreign key up front.
TEST(Signer, Sm2SignsThroughTheScheme) {
  const SignatureScheme& scheme = sm2_sm3();
  PrivateKey key = scheme.generate().value();
  Signer signer = Signer::create(scheme, key).value();
  for (const char* text : {"one", "two"}) {
    Bytes signature = signer.sign(to_bytes(text)).value();
    EXPECT_TRUE(scheme.verify(key.public_key(), to_bytes(text), signature).has_value()) << text;
  }
  EXPECT_FALSE(Signer::create(scheme, ed25519().generate().value()).has_value());
  EXPECT_FALSE(Signer::create(scheme, PrivateKey{}).has_value());
}

TEST(Ecdsa, PointsOffTheCurveAreRefused) {
  PrivateKey key = ecdsa_p256_sha256().generate().value();
  Bytes point = to_bytes(key.public_key().bytes());
  point[40] ^= 1;  // y no longer matches x
  auto off = ecdsa_p256_sha256().public_key(point);
  ASSERT_FALSE(off.has_value());
  EXPECT_STREQ(off.error().message(), "EC public key is not a point on the curve");
  Bytes compressed = to_bytes(key.public_key().bytes());
  compressed[0] = 0x02;
  EXPECT_FALSE(ecdsa_p256_sha256().public_key(compressed).has_value());
}

TEST(Ecdsa, ScalarsOutOfRangeAreRefused) {
  EXPECT_FALSE(ecdsa_p256_sha256().private_key(Bytes(32, 0)).has_value());
  EXPECT_FALSE(ecdsa_p256_sha256().private_key(Bytes(32, 0xff)).has_value());  // > order
  EXPECT_TRUE(ecdsa_p256_sha256().private_key(Bytes(32, 0x01)).has_value());
}

TEST(Ecdsa, ScalarsWithoutLeadingZerosAreAcceptedAndPadded) {
  // Other implementations encode the P-521 scalar minimally (the IETF
  // message-protection vectors hold a 65-byte key).
  const SignatureScheme& scheme = ecdsa_p521_sha512();
  PrivateKey key = scheme.generate().value();
  while (key.private_bytes()[0] != 0) key = scheme.generate().value();
  PrivateKey short_form = scheme.private_key(key.private_bytes().subspan(1)).value();
  EXPECT_EQ(short_form.public_key(), key.public_key());
  EXPECT_EQ(short_form.private_bytes().size(), 66u);
  EXPECT_FALSE(scheme.private_key(Bytes(67, 0)).has_value());
}

TEST(Ed25519, Rfc8032Test1) {
  // RFC 8032 §7.1, TEST 1 (empty message).
  PrivateKey key = ed25519()
                       .private_key(from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").value())
                       .value();
  EXPECT_EQ(to_hex(key.public_key().bytes()), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  EXPECT_EQ(to_hex(ed25519().sign(key, {}).value()),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
            "d25bf5f0595bbe24655141438e7a100b");
}

TEST(SignatureScheme, IdsMapToSchemes) {
  EXPECT_EQ(signature_scheme_for_id(0x0807).value(), &ed25519());
  EXPECT_EQ(signature_scheme_for_id(0x0403).value(), &ecdsa_p256_sha256());
  EXPECT_EQ(signature_scheme_for_id(0x0401).error().category(), ErrorCategory::kUnsupported);
}

}  // namespace
}  // namespace pmos::crypto

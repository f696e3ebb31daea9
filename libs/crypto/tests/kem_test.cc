// KEM and HPKE behaviour beyond the RFC vectors: DHKEM(P-384), which suite 7
// uses but the vectors lack, and every way a caller can get HPKE wrong.
#include "pmos/crypto/kem.h"

#include <gtest/gtest.h>

#include "pmos/crypto/cipher_suite.h"
#include "pmos/crypto/hpke.h"
#include "pmos/crypto/random.h"

namespace pmos::crypto {
namespace {

class KemTest : public ::testing::TestWithParam<const Kem*> {};

TEST_P(KemTest, EncapDecapAgree) {
  const Kem& kem = *GetParam();
  PrivateKey recipient = kem.generate().value();
  auto encapsulation = kem.encap(recipient.public_key()).value();
  EXPECT_EQ(encapsulation.enc.size(), kem.enc_size());
  EXPECT_EQ(encapsulation.shared_secret.size(), kem.shared_secret_size());
  EXPECT_TRUE(kem.decap(encapsulation.enc, recipient).value() == encapsulation.shared_secret);
  PrivateKey other = kem.generate().value();
  EXPECT_FALSE(kem.decap(encapsulation.enc, other).value() == encapsulation.shared_secret);
}

TEST_P(KemTest, AuthEncapBindsTheSender) {
  const Kem& kem = *GetParam();
  PrivateKey recipient = kem.generate().value();
  PrivateKey sender = kem.generate().value();
  PrivateKey impostor = kem.generate().value();
  auto encapsulation = kem.auth_encap(recipient.public_key(), sender).value();
  EXPECT_TRUE(kem.auth_decap(encapsulation.enc, recipient, sender.public_key()).value() ==
              encapsulation.shared_secret);
  EXPECT_FALSE(kem.auth_decap(encapsulation.enc, recipient, impostor.public_key()).value() ==
               encapsulation.shared_secret);
}

TEST_P(KemTest, DeriveKeyPairIsDeterministicAndConsistent) {
  const Kem& kem = *GetParam();
  Bytes ikm = random_bytes(kem.private_key_size());
  PrivateKey a = kem.derive_key_pair(ikm).value();
  PrivateKey b = kem.derive_key_pair(ikm).value();
  EXPECT_EQ(to_hex(a.private_bytes()), to_hex(b.private_bytes()));
  EXPECT_EQ(a.public_key(), b.public_key());
  // The public key is the one that belongs to the private key.
  EXPECT_EQ(kem.private_key(a.private_bytes()).value().public_key(), a.public_key());
  ikm[0] ^= 1;
  EXPECT_NE(kem.derive_key_pair(ikm).value().public_key(), a.public_key());
}

TEST_P(KemTest, BadEncapsulationsAreErrors) {
  const Kem& kem = *GetParam();
  PrivateKey recipient = kem.generate().value();
  auto encapsulation = kem.encap(recipient.public_key()).value();
  Bytes truncated(encapsulation.enc.begin(), encapsulation.enc.end() - 1);
  EXPECT_FALSE(kem.decap(truncated, recipient).has_value());
  EXPECT_FALSE(kem.decap({}, recipient).has_value());
  // A key from another KEM is refused, not misused.
  const Kem& other = &kem == &dhkem_x25519() ? dhkem_p256() : dhkem_x25519();
  PrivateKey foreign = other.generate().value();
  EXPECT_FALSE(kem.encap(foreign.public_key()).has_value());
}

INSTANTIATE_TEST_SUITE_P(All, KemTest,
                         ::testing::Values(&dhkem_p256(), &dhkem_p384(), &dhkem_p521(), &dhkem_x25519(),
                                           &dhkem_x448()),
                         [](const auto& param_info) { return "Kem" + std::to_string(param_info.param->id()); });

TEST(Kem, X25519SmallOrderPointIsRefused) {
  PrivateKey recipient = dhkem_x25519().generate().value();
  // The all-zero point has order 1: DH with it yields zero, which RFC 9180
  // §7.1.4 requires us to reject.
  auto zero = dhkem_x25519().decap(Bytes(32, 0), recipient);
  ASSERT_FALSE(zero.has_value());
  EXPECT_EQ(zero.error().category(), ErrorCategory::kCrypto);
}

TEST(Kem, NistPointOffTheCurveIsRefused) {
  PrivateKey recipient = dhkem_p384().generate().value();
  Bytes enc = dhkem_p384().encap(recipient.public_key()).value().enc;
  enc[enc.size() - 1] ^= 1;
  EXPECT_FALSE(dhkem_p384().decap(enc, recipient).has_value());
  EXPECT_FALSE(dhkem_p384().public_key(Bytes(97, 0)).has_value());
}

TEST(Hpke, P384SuiteRoundTripsInAllModes) {
  // Suite 7 (DHKEM(P-384), HKDF-SHA384, AES-256-GCM) has no RFC vectors.
  const Hpke& hpke = CipherSuite::from_id(7).value().hpke();
  PrivateKey recipient = hpke.kem().generate().value();
  PrivateKey sender = hpke.kem().generate().value();
  Bytes psk = random_bytes(32);
  Bytes psk_id = to_bytes("psk-1");
  for (int mode = 0; mode < 4; ++mode) {
    SCOPED_TRACE(mode);
    bool with_psk = mode & 1, with_auth = mode & 2;
    HpkeSenderOptions send{with_psk ? BytesView(psk) : BytesView{}, with_psk ? BytesView(psk_id) : BytesView{},
                           with_auth ? &sender : nullptr, nullptr};
    HpkeReceiverOptions receive{send.psk, send.psk_id, with_auth ? &sender.public_key() : nullptr};
    auto sealed = hpke.seal(recipient.public_key(), to_bytes("info"), to_bytes("aad"), to_bytes("hello"), send).value();
    EXPECT_EQ(hpke.open(sealed.enc, recipient, to_bytes("info"), to_bytes("aad"), sealed.ciphertext, receive).value(),
              to_bytes("hello"));
    EXPECT_FALSE(hpke.open(sealed.enc, recipient, to_bytes("inf0"), to_bytes("aad"), sealed.ciphertext, receive)
                     .has_value());
    auto exported = hpke.send_export(recipient.public_key(), to_bytes("info"), to_bytes("ctx"), 48, send).value();
    EXPECT_TRUE(hpke.receive_export(exported.enc, recipient, to_bytes("info"), to_bytes("ctx"), 48, receive).value() ==
                exported.secret);
  }
}

TEST(Hpke, ContextSequenceAdvancesOnlyOnSuccess) {
  const Hpke& hpke = CipherSuite::from_id(1).value().hpke();
  PrivateKey recipient = hpke.kem().generate().value();
  auto sender = hpke.setup_sender(recipient.public_key(), {}).value();
  auto receiver = hpke.setup_receiver(sender.enc, recipient, {}).value();
  Bytes first = sender.context.seal({}, to_bytes("one")).value();
  Bytes second = sender.context.seal({}, to_bytes("two")).value();
  EXPECT_FALSE(receiver.open({}, second).has_value());  // out of order: wrong nonce
  EXPECT_EQ(receiver.sequence_number(), 0u);
  EXPECT_EQ(receiver.open({}, first).value(), to_bytes("one"));
  EXPECT_EQ(receiver.open({}, second).value(), to_bytes("two"));
  EXPECT_FALSE(receiver.seal({}, to_bytes("x")).has_value());
  EXPECT_FALSE(sender.context.open({}, first).has_value());
}

TEST(Hpke, PskInputsAreChecked) {
  const Hpke& hpke = CipherSuite::from_id(1).value().hpke();
  PrivateKey recipient = hpke.kem().generate().value();
  Bytes psk = random_bytes(32);
  auto no_id = hpke.setup_sender(recipient.public_key(), {}, {psk, {}, nullptr, nullptr});
  ASSERT_FALSE(no_id.has_value());
  EXPECT_STREQ(no_id.error().message(), "HPKE PSK and PSK id must be given together");
  Bytes short_psk = random_bytes(16);
  auto weak = hpke.setup_sender(recipient.public_key(), {}, {short_psk, to_bytes("id"), nullptr, nullptr});
  ASSERT_FALSE(weak.has_value());
  EXPECT_STREQ(weak.error().message(), "HPKE PSK is shorter than 32 bytes");
}

TEST(Hpke, ExportOnlyContextsCannotEncrypt) {
  auto hpke = Hpke::create(0x0020, 0x0001, 0xffff).value();
  PrivateKey recipient = hpke.kem().generate().value();
  auto sender = hpke.setup_sender(recipient.public_key(), {}).value();
  auto sealed = sender.context.seal({}, to_bytes("x"));
  ASSERT_FALSE(sealed.has_value());
  EXPECT_STREQ(sealed.error().message(), "HPKE export-only context cannot seal");
  EXPECT_EQ(sender.context.export_secret({}, 32).value().size(), 32u);
  EXPECT_FALSE(Hpke::create(0x0020, 0x0009, 0x0001).has_value());
}

}  // namespace
}  // namespace pmos::crypto

#include "pmos/crypto/aead.h"

#include <gtest/gtest.h>

#include "pmos/crypto/random.h"

namespace pmos::crypto {
namespace {

Bytes hex(std::string_view s) { return from_hex(s).value(); }

class AeadTest : public ::testing::TestWithParam<const Aead*> {};

TEST_P(AeadTest, RoundTripsAndBindsEveryInput) {
  const Aead& aead = *GetParam();
  Bytes key = random_bytes(aead.key_size());
  Bytes nonce = random_bytes(aead.nonce_size());
  Bytes aad = to_bytes("header");
  Bytes plaintext = to_bytes("duty roster for unit 7");
  Bytes ciphertext = aead.seal(key, nonce, aad, plaintext).value();
  ASSERT_EQ(ciphertext.size(), plaintext.size() + aead.tag_size());
  EXPECT_EQ(aead.open(key, nonce, aad, ciphertext).value(), plaintext);

  // Any flipped bit anywhere is an authentication failure, never plaintext.
  for (std::size_t i = 0; i < ciphertext.size(); ++i) {
    Bytes tampered = ciphertext;
    tampered[i] ^= 0x01;
    auto opened = aead.open(key, nonce, aad, tampered);
    ASSERT_FALSE(opened.has_value()) << "byte " << i;
    EXPECT_EQ(opened.error().category(), ErrorCategory::kCrypto);
  }
  EXPECT_FALSE(aead.open(key, nonce, to_bytes("headeR"), ciphertext).has_value());
  Bytes other_nonce = nonce;
  other_nonce[0] ^= 1;
  EXPECT_FALSE(aead.open(key, other_nonce, aad, ciphertext).has_value());
  Bytes other_key = key;
  other_key.back() ^= 1;
  EXPECT_FALSE(aead.open(other_key, nonce, aad, ciphertext).has_value());
}

TEST_P(AeadTest, EmptyPlaintextAndAad) {
  const Aead& aead = *GetParam();
  Bytes key = random_bytes(aead.key_size());
  Bytes nonce = random_bytes(aead.nonce_size());
  Bytes ciphertext = aead.seal(key, nonce, {}, {}).value();
  EXPECT_EQ(ciphertext.size(), aead.tag_size());
  EXPECT_TRUE(aead.open(key, nonce, {}, ciphertext).value().empty());
}

TEST_P(AeadTest, WrongSizesAreClearErrors) {
  const Aead& aead = *GetParam();
  Bytes key = random_bytes(aead.key_size());
  Bytes nonce = random_bytes(aead.nonce_size());
  auto short_key = aead.seal(Bytes(aead.key_size() - 1, 0), nonce, {}, {});
  ASSERT_FALSE(short_key.has_value());
  EXPECT_STREQ(short_key.error().message(), "AEAD key has the wrong length");
  auto long_nonce = aead.seal(key, Bytes(aead.nonce_size() + 1, 0), {}, {});
  ASSERT_FALSE(long_nonce.has_value());
  EXPECT_STREQ(long_nonce.error().message(), "AEAD nonce has the wrong length");
  auto truncated = aead.open(key, nonce, {}, Bytes(aead.tag_size() - 1, 0));
  ASSERT_FALSE(truncated.has_value());
  EXPECT_STREQ(truncated.error().message(), "AEAD ciphertext is shorter than its tag");
}

TEST_P(AeadTest, FailedOpenWipesTheOutputBuffer) {
  const Aead& aead = *GetParam();
  Bytes key = random_bytes(aead.key_size());
  Bytes nonce = random_bytes(aead.nonce_size());
  Bytes plaintext(64, 0x41);
  Bytes ciphertext = aead.seal(key, nonce, {}, plaintext).value();
  ciphertext.back() ^= 1;  // tag only: the body decrypts to the real plaintext
  Bytes out(plaintext.size(), 0x55);
  EXPECT_FALSE(aead.open_into(key, nonce, {}, ciphertext, out).has_value());
  EXPECT_EQ(out, Bytes(plaintext.size(), 0));
}

INSTANTIATE_TEST_SUITE_P(All, AeadTest,
                         ::testing::Values(&aes128_gcm(), &aes256_gcm(), &chacha20_poly1305()),
                         [](const auto& param_info) {
                           std::string name(param_info.param->name());
                           std::erase_if(name, [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); });
                           return name;
                         });

TEST(Aead, Aes128GcmKnownAnswer) {
  // McGrew & Viega, "The Galois/Counter Mode of Operation", test case 2.
  Bytes ciphertext = aes128_gcm().seal(Bytes(16, 0), Bytes(12, 0), {}, Bytes(16, 0)).value();
  EXPECT_EQ(to_hex(ciphertext), "0388dace60b6a392f328c2b971b2fe78" "ab6e47d42cec13bdf53a67b21257bddf");
  EXPECT_EQ(aes128_gcm().open(Bytes(16, 0), Bytes(12, 0), {}, hex("0388dace60b6a392f328c2b971b2fe78"
                                                                   "ab6e47d42cec13bdf53a67b21257bddf"))
                .value(),
            Bytes(16, 0));
}

TEST(Aead, IdsMapToAlgorithms) {
  EXPECT_EQ(aead_for_id(1).value(), &aes128_gcm());
  EXPECT_EQ(aead_for_id(2).value(), &aes256_gcm());
  EXPECT_EQ(aead_for_id(3).value(), &chacha20_poly1305());
  EXPECT_FALSE(aead_for_id(0xffff).has_value());
  EXPECT_EQ(aead_for_id(9).error().category(), ErrorCategory::kUnsupported);
}

}  // namespace
}  // namespace pmos::crypto

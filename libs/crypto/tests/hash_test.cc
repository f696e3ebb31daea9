#include "pmos/crypto/hash.h"

#include <gtest/gtest.h>

#include "pmos/crypto/random.h"

namespace pmos::crypto {
namespace {

Bytes hex(std::string_view s) { return from_hex(s).value(); }

TEST(Hash, Sha256KnownAnswer) {
  // FIPS 180-2 appendix B.1.
  EXPECT_EQ(to_hex(sha256().digest(to_bytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha384().size(), 48u);
  EXPECT_EQ(sha512().size(), 64u);
}

TEST(Hash, HmacRfc4231Case2) {
  EXPECT_EQ(to_hex(sha256().hmac(to_bytes("Jefe"), to_bytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Hash, HkdfRfc5869Case1) {
  Bytes ikm(22, 0x0b);
  SecretBytes prk = sha256().extract(hex("000102030405060708090a0b0c"), ikm);
  EXPECT_EQ(to_hex(prk), "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
  auto okm = sha256().expand(prk, hex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_TRUE(okm.has_value());
  EXPECT_EQ(to_hex(*okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(Hash, HkdfRfc5869Case3EmptySaltAndInfo) {
  Bytes ikm(22, 0x0b);
  SecretBytes prk = sha256().extract({}, ikm);
  EXPECT_EQ(to_hex(prk), "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04");
  EXPECT_EQ(to_hex(sha256().expand(prk, {}, 42).value()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(Hash, ExpandRefusesOverlongOutputAndShortPrk) {
  SecretBytes prk = sha256().extract({}, to_bytes("ikm"));
  EXPECT_TRUE(sha256().expand(prk, {}, 255 * 32).has_value());
  auto too_long = sha256().expand(prk, {}, 255 * 32 + 1);
  ASSERT_FALSE(too_long.has_value());
  EXPECT_EQ(too_long.error().category(), ErrorCategory::kInvalidArgument);
  EXPECT_FALSE(sha256().expand(Bytes(31, 1), {}, 32).has_value());
}

TEST(Hash, KdfIdsMapToHashes) {
  EXPECT_EQ(hash_for_kdf(1).value(), &sha256());
  EXPECT_EQ(hash_for_kdf(2).value(), &sha384());
  EXPECT_EQ(hash_for_kdf(3).value(), &sha512());
  EXPECT_FALSE(hash_for_kdf(4).has_value());
}

TEST(Random, ProducesFreshBytes) {
  EXPECT_EQ(random_bytes(32).size(), 32u);
  EXPECT_NE(random_bytes(32), random_bytes(32));
  EXPECT_EQ(random_secret(16).size(), 16u);
}

}  // namespace
}  // namespace pmos::crypto

#include "pmos/crypto/argon2.h"

#include <gtest/gtest.h>

namespace pmos::crypto {
namespace {

TEST(Argon2id, Rfc9106KnownAnswer) {
  // RFC 9106 §5.3: t=3, m=32 KiB, p=4, P=32x01, S=16x02, K=8x03, X=12x04.
  Argon2Params params{.passes = 3, .memory_kib = 32, .parallelism = 4};
  auto tag = argon2id(Bytes(32, 0x01), Bytes(16, 0x02), params, 32, Bytes(8, 0x03), Bytes(12, 0x04));
  ASSERT_TRUE(tag.has_value()) << tag.error().to_string();
  EXPECT_EQ(to_hex(*tag), "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659");
}

TEST(Argon2id, EveryInputChangesTheOutput) {
  Argon2Params params{.passes = 1, .memory_kib = 64, .parallelism = 1};
  Bytes salt(16, 7);
  auto a = argon2id(to_bytes("1234"), salt, params, 32).value();
  auto b = argon2id(to_bytes("1235"), salt, params, 32).value();
  auto c = argon2id(to_bytes("1234"), Bytes(16, 8), params, 32).value();
  auto d = argon2id(to_bytes("1234"), salt, params, 32, to_bytes("device-key")).value();
  auto e = argon2id(to_bytes("1234"), salt, Argon2Params{2, 64, 1}, 32).value();
  EXPECT_FALSE(a == b);
  EXPECT_FALSE(a == c);
  EXPECT_FALSE(a == d);
  EXPECT_FALSE(a == e);
  EXPECT_TRUE(a == argon2id(to_bytes("1234"), salt, params, 32).value());
}

TEST(Argon2id, BadParametersAreClearErrors) {
  Argon2Params ok{.passes = 1, .memory_kib = 64, .parallelism = 1};
  auto short_salt = argon2id(to_bytes("pin"), Bytes(7, 0), ok, 32);
  ASSERT_FALSE(short_salt.has_value());
  EXPECT_STREQ(short_salt.error().message(), "Argon2id salt is shorter than 8 bytes");
  EXPECT_FALSE(argon2id(to_bytes("pin"), Bytes(16, 0), Argon2Params{0, 64, 1}, 32).has_value());
  EXPECT_FALSE(argon2id(to_bytes("pin"), Bytes(16, 0), Argon2Params{1, 4, 1}, 32).has_value());
  EXPECT_FALSE(argon2id(to_bytes("pin"), Bytes(16, 0), Argon2Params{1, 64, 0}, 32).has_value());
  EXPECT_FALSE(argon2id(to_bytes("pin"), Bytes(16, 0), ok, 3).has_value());
}

}  // namespace
}  // namespace pmos::crypto

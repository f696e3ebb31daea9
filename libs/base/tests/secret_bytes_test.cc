#include "pmos/base/secret_bytes.h"

#include <gtest/gtest.h>

namespace pmos {
namespace {

TEST(SecretBytes, CopiesAndCompares) {
  Bytes raw = {1, 2, 3, 4};
  SecretBytes a = SecretBytes::copy_of(raw);
  SecretBytes b = a.clone();
  EXPECT_EQ(a.size(), 4u);
  EXPECT_TRUE(a == b);
  b.data()[0] = 9;
  EXPECT_FALSE(a == b);
  EXPECT_EQ(to_bytes(a.view()), raw);
}

TEST(SecretBytes, MoveLeavesTheSourceEmpty) {
  SecretBytes a = SecretBytes::copy_of(Bytes{7, 7, 7});
  const std::uint8_t* buffer = a.data();
  SecretBytes b = std::move(a);
  EXPECT_EQ(b.data(), buffer);  // moved, not copied: no second copy in memory
  EXPECT_TRUE(a.empty());       // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_EQ(a.data(), nullptr);
}

TEST(SecretBytes, TruncateWipesTheTail) {
  SecretBytes a = SecretBytes::copy_of(Bytes{1, 2, 3, 4});
  const std::uint8_t* buffer = a.data();
  a.truncate(2);
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(buffer[2], 0);
  EXPECT_EQ(buffer[3], 0);
  a.truncate(10);  // never grows
  EXPECT_EQ(a.size(), 2u);
}

TEST(SecretBytes, ClearWipesAndEmpties) {
  SecretBytes a(16);
  for (auto& byte : a.mutable_view()) byte = 0xaa;
  a.clear();
  EXPECT_TRUE(a.empty());
}

TEST(SecureZero, Wipes) {
  Bytes raw = {1, 2, 3};
  secure_zero(raw);
  EXPECT_EQ(raw, (Bytes{0, 0, 0}));
}

}  // namespace
}  // namespace pmos

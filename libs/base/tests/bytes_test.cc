#include "pmos/base/bytes.h"

#include <gtest/gtest.h>

namespace pmos {
namespace {

TEST(Hex, RoundTrips) {
  Bytes bytes = {0x00, 0x01, 0xab, 0xff};
  EXPECT_EQ(to_hex(bytes), "0001abff");
  EXPECT_EQ(from_hex("0001abff").value(), bytes);
  EXPECT_EQ(from_hex("0001ABFF").value(), bytes);
  EXPECT_TRUE(from_hex("").value().empty());
}

TEST(Hex, RejectsOddLengthAndNonDigits) {
  auto odd = from_hex("abc");
  ASSERT_FALSE(odd.has_value());
  EXPECT_EQ(odd.error().category(), ErrorCategory::kDecode);
  EXPECT_FALSE(from_hex("zz").has_value());
  EXPECT_FALSE(from_hex("0g").has_value());
  EXPECT_FALSE(from_hex(" 0").has_value());
}

TEST(ConstantTimeEqual, ComparesContentsAndLengths) {
  Bytes a = {1, 2, 3};
  Bytes b = {1, 2, 3};
  Bytes c = {1, 2, 4};
  Bytes d = {1, 2};
  EXPECT_TRUE(constant_time_equal(a, b));
  EXPECT_FALSE(constant_time_equal(a, c));
  EXPECT_FALSE(constant_time_equal(a, d));
  EXPECT_TRUE(constant_time_equal(Bytes{}, Bytes{}));
}

TEST(Bytes, StringConversions) {
  EXPECT_EQ(to_bytes("MLS 1.0 "), (Bytes{'M', 'L', 'S', ' ', '1', '.', '0', ' '}));
  EXPECT_EQ(as_string(to_bytes("abc")), "abc");
  Bytes out = {1};
  append(out, Bytes{2, 3});
  EXPECT_EQ(out, (Bytes{1, 2, 3}));
}

}  // namespace
}  // namespace pmos

#include "pmos/base/error_or.h"

#include <memory>
#include <string>

#include <gtest/gtest.h>

namespace pmos {
namespace {

ErrorOr<int> parse_digit(char c) {
  if (c < '0' || c > '9') return Error::invalid_argument("not a digit");
  return c - '0';
}

ErrorOr<int> sum_of_digits(const char* s) {
  int total = 0;
  for (; *s; ++s) total += TRY(parse_digit(*s));
  return total;
}

ErrorOr<void> check_even(int n) {
  if (n % 2) return Error::invalid_argument("odd");
  return {};
}

ErrorOr<std::string> even_name(int n) {
  TRY(check_even(n));
  return std::to_string(n);
}

TEST(ErrorOr, ValueAndError) {
  auto ok = parse_digit('7');
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(*ok, 7);
  auto bad = parse_digit('x');
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().category(), ErrorCategory::kInvalidArgument);
  EXPECT_STREQ(bad.error().message(), "not a digit");
}

TEST(ErrorOr, TryPropagatesTheFirstError) {
  EXPECT_EQ(sum_of_digits("123").value(), 6);
  auto bad = sum_of_digits("1x3");
  ASSERT_FALSE(bad.has_value());
  EXPECT_STREQ(bad.error().message(), "not a digit");
}

TEST(ErrorOr, VoidAndTry) {
  EXPECT_EQ(even_name(4).value(), "4");
  EXPECT_FALSE(even_name(3).has_value());
}

ErrorOr<int> add_digits(char a, char b) { return TRY(parse_digit(a)) + TRY(parse_digit(TRY(parse_digit(b)) > 4 ? '9' : b)); }

TEST(ErrorOr, TryNests) {
  EXPECT_EQ(add_digits('1', '2').value(), 3);
  EXPECT_EQ(add_digits('1', '7').value(), 10);
  EXPECT_FALSE(add_digits('x', '2').has_value());
  EXPECT_FALSE(add_digits('1', 'x').has_value());
}

TEST(ErrorOr, HoldsMoveOnlyValues) {
  ErrorOr<std::unique_ptr<int>> p = std::make_unique<int>(5);
  std::unique_ptr<int> owned = p.release_value();
  EXPECT_EQ(*owned, 5);
}

TEST(Error, ToStringNamesCategoryMessageAndErrno) {
  EXPECT_EQ(Error::decode("input is truncated").to_string(), "decode: input is truncated");
  std::string system = Error::system("open", 2).to_string();
  EXPECT_EQ(system.rfind("system: open: ", 0), 0u) << system;
  EXPECT_NE(system.find("No such file"), std::string::npos) << system;
}

}  // namespace
}  // namespace pmos

#include "base64.h"

#include <gtest/gtest.h>

namespace pmos::tlog::detail {
namespace {

TEST(Base64, Rfc4648Vectors) {
  // RFC 4648 §10.
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (auto [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(as_bytes(plain)), encoded);
    EXPECT_EQ(base64_decode(encoded).value(), to_bytes(std::string_view(plain)));
  }
  Bytes all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
  for (std::size_t n = 0; n <= all.size(); ++n) {
    BytesView prefix(all.data(), n);
    EXPECT_EQ(base64_decode(base64_encode(prefix)).value(), to_bytes(prefix));
  }
}

TEST(Base64, StrictDecoding) {
  for (const char* bad : {"Zg", "Zg=", "Zm9", "Zg===", "Z===", "====", "Zm=v", "Zm9v=", "Zh==", "Zm9=",
                          "Zm-v", "Zm_v", "Zm9v\n", " Zm9v", "Zm 9v", "Zg==Zg==", "=Zm9"}) {
    EXPECT_FALSE(base64_decode(bad)) << bad;
  }
  EXPECT_STREQ(base64_decode("Zh==").error().message(), "base64: non-zero padding bits");
  EXPECT_STREQ(base64_decode("Zm9=").error().message(), "base64: non-zero padding bits");
  EXPECT_STREQ(base64_decode("Zm-v").error().message(), "base64: character outside the standard alphabet");
  EXPECT_STREQ(base64_decode("Zm9").error().message(), "base64: length is not a multiple of 4");
}

}  // namespace
}  // namespace pmos::tlog::detail

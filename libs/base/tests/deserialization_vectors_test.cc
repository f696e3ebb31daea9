// RFC 9420 §2.1.2 varint headers against the IETF interop vectors
// (mls/deserialization.json).
#include <gtest/gtest.h>

#include "pmos/base/codec.h"
#include "pmos/testing/vectors.h"

namespace pmos {
namespace {

TEST(DeserializationVectors, VarintHeaders) {
  PMOS_LOAD_VECTORS(vectors, "mls/deserialization.json");
  ASSERT_FALSE(vectors.empty());
  int checked = 0;
  for (const auto& v : vectors) {
    Bytes header = testing::hex_field(v, "vlbytes_header");
    auto length = v.at("length").get<std::uint64_t>();
    EXPECT_EQ(tls::encode_varint(length), header) << "length " << length;
    auto decoded = tls::decode_varint(header);
    ASSERT_TRUE(decoded.has_value()) << decoded.error().to_string();
    EXPECT_EQ(*decoded, length);

    // The header followed by `length` bytes is an opaque<V> of that length
    // (bodies are built up to 1 MiB; the vectors go up to 2^30 - 1). One byte
    // short, it is truncated input.
    if (length > 0 && length <= (1u << 20)) {
      Bytes wire = header;
      wire.resize(header.size() + length, 0x5a);
      auto opaque = tls::decode<Bytes>(wire);
      ASSERT_TRUE(opaque.has_value()) << opaque.error().to_string();
      EXPECT_EQ(opaque->size(), length);
      wire.pop_back();
      EXPECT_FALSE(tls::decode<Bytes>(wire).has_value());
    }
    ++checked;
  }
  RecordProperty("vectors_checked", checked);
}

}  // namespace
}  // namespace pmos

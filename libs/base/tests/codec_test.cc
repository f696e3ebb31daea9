#include "pmos/base/codec.h"

#include <gtest/gtest.h>

namespace pmos {
namespace {

enum class Color : std::uint16_t { kRed = 1, kGreen = 2 };
bool tls_enum_valid(Color c) { return c == Color::kRed || c == Color::kGreen; }

enum class Open : std::uint8_t { kA = 1 };  // no validation: any value decodes

struct Inner {
  std::uint8_t tag = 0;
  Bytes data;
  static auto tls_fields(auto& self) { return std::tie(self.tag, self.data); }
  friend bool operator==(const Inner&, const Inner&) = default;
};

struct Outer {
  Color color = Color::kRed;
  std::uint32_t epoch = 0;
  std::uint64_t big = 0;
  std::array<std::uint8_t, 4> fixed{};
  std::vector<Inner> items;
  std::optional<Inner> maybe;
  std::vector<std::uint16_t> numbers;
  std::string label;
  static auto tls_fields(auto& self) {
    return std::tie(self.color, self.epoch, self.big, self.fixed, self.items, self.maybe, self.numbers,
                    self.label);
  }
  friend bool operator==(const Outer&, const Outer&) = default;
};

// A `select`-style variant with its own codec.
struct Shape {
  std::uint8_t kind = 0;  // 1: square (u16 side), 2: label
  std::uint16_t side = 0;
  Bytes name;
  void tls_encode(tls::Writer& w) const {
    w.u8(kind);
    if (kind == 1)
      w.u16(side);
    else
      w.opaque(name);
  }
  static ErrorOr<Shape> tls_decode(tls::Reader& r) {
    Shape s;
    s.kind = TRY(r.u8());
    if (s.kind == 1) {
      s.side = TRY(r.u16());
    } else if (s.kind == 2) {
      s.name = to_bytes(TRY(r.opaque()));
    } else {
      return Error::decode("unknown shape kind");
    }
    return s;
  }
  friend bool operator==(const Shape&, const Shape&) = default;
};

Outer sample() {
  Outer o;
  o.color = Color::kGreen;
  o.epoch = 0x01020304;
  o.big = 0x1122334455667788;
  o.fixed = {9, 8, 7, 6};
  o.items = {{1, {0xaa}}, {2, {}}};
  o.maybe = Inner{3, {1, 2}};
  o.numbers = {1, 0xffff};
  o.label = "pmos";
  return o;
}

TEST(Codec, IntegersAreBigEndian) {
  EXPECT_EQ(tls::encode(std::uint16_t{0x0102}), (Bytes{1, 2}));
  EXPECT_EQ(tls::encode(std::uint32_t{0x01020304}), (Bytes{1, 2, 3, 4}));
  EXPECT_EQ(tls::encode(std::uint64_t{1}), (Bytes{0, 0, 0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(tls::decode<std::uint32_t>(Bytes{1, 2, 3, 4}).value(), 0x01020304u);
}

TEST(Codec, StructRoundTripIsByteExact) {
  Outer o = sample();
  Bytes wire = tls::encode(o);
  Bytes expected = from_hex(
                       "0002"              // color
                       "01020304"          // epoch
                       "1122334455667788"  // big
                       "09080706"          // fixed
                       "05"
                       "0101aa"
                       "0200"  // items: 5 bytes
                       "01"
                       "03020102"  // maybe: present
                       "04"
                       "0001ffff"  // numbers
                       "04"
                       "706d6f73")  // label
                       .value();
  EXPECT_EQ(to_hex(wire), to_hex(expected));
  auto back = tls::decode<Outer>(wire);
  ASSERT_TRUE(back.has_value()) << back.error().to_string();
  EXPECT_EQ(*back, o);
}

TEST(Codec, EveryTruncationIsAnError) {
  Bytes wire = tls::encode(sample());
  for (std::size_t n = 0; n < wire.size(); ++n) {
    auto r = tls::decode<Outer>(BytesView(wire).first(n));
    EXPECT_FALSE(r.has_value()) << "prefix of " << n << " bytes decoded";
  }
}

TEST(Codec, TrailingBytesAreAnError) {
  Bytes wire = tls::encode(sample());
  wire.push_back(0);
  auto r = tls::decode<Outer>(wire);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().category(), ErrorCategory::kDecode);
  EXPECT_STREQ(r.error().message(), "trailing bytes after the end of the structure");
}

TEST(Codec, VarintBoundaries) {
  EXPECT_EQ(tls::encode_varint(0), (Bytes{0x00}));
  EXPECT_EQ(tls::encode_varint(63), (Bytes{0x3f}));
  EXPECT_EQ(tls::encode_varint(64), (Bytes{0x40, 0x40}));
  EXPECT_EQ(tls::encode_varint(16383), (Bytes{0x7f, 0xff}));
  EXPECT_EQ(tls::encode_varint(16384), (Bytes{0x80, 0x00, 0x40, 0x00}));
  EXPECT_EQ(tls::encode_varint(tls::kMaxVarint), (Bytes{0xbf, 0xff, 0xff, 0xff}));
  for (std::uint64_t v : std::initializer_list<std::uint64_t>{0, 1, 63, 64, 16383, 16384, tls::kMaxVarint}) {
    EXPECT_EQ(tls::decode_varint(tls::encode_varint(v)).value(), v);
  }
}

TEST(Codec, NonMinimalVarintIsAnError) {
  for (Bytes bad :
       {Bytes{0x40, 0x05}, Bytes{0x40, 0x3f}, Bytes{0x80, 0x00, 0x00, 0x3f}, Bytes{0x80, 0x00, 0x3f, 0xff}}) {
    auto r = tls::decode_varint(bad);
    ASSERT_FALSE(r.has_value()) << to_hex(bad);
    EXPECT_STREQ(r.error().message(), "length header is not minimally encoded");
  }
}

TEST(Codec, ReservedVarintPrefixIsAnError) {
  auto r = tls::decode_varint(Bytes{0xc0, 0, 0, 0, 0, 0, 0, 1});
  ASSERT_FALSE(r.has_value());
  EXPECT_STREQ(r.error().message(), "length header uses the reserved 0b11 prefix (length over 2^30)");
}

TEST(Codec, LengthBeyondInputIsAnError) {
  auto r = tls::decode<Bytes>(Bytes{0x05, 1, 2});
  ASSERT_FALSE(r.has_value());
  EXPECT_STREQ(r.error().message(), "vector length exceeds the remaining input");
  // A huge declared length must not allocate: it fails before any copy.
  EXPECT_FALSE(tls::decode<Bytes>(Bytes{0xbf, 0xff, 0xff, 0xff}).has_value());
}

TEST(Codec, VectorElementsMustFillTheVectorExactly) {
  // numbers: vector<uint16> with 3 bytes: the last element is cut in half.
  EXPECT_FALSE(tls::decode<std::vector<std::uint16_t>>(Bytes{0x03, 0, 1, 0}).has_value());
  EXPECT_EQ(tls::decode<std::vector<std::uint16_t>>(Bytes{0x04, 0, 1, 0, 2}).value(),
            (std::vector<std::uint16_t>{1, 2}));
}

TEST(Codec, OptionalFlagMustBeZeroOrOne) {
  using Opt = std::optional<std::uint8_t>;
  EXPECT_EQ(tls::decode<Opt>(Bytes{0}).value(), std::nullopt);
  EXPECT_EQ(tls::decode<Opt>(Bytes{1, 7}).value(), 7);
  auto r = tls::decode<Opt>(Bytes{2, 7});
  ASSERT_FALSE(r.has_value());
  EXPECT_STREQ(r.error().message(), "optional presence flag is neither 0 nor 1");
}

TEST(Codec, UnknownEnumValuesAreRejectedWhereValidated) {
  EXPECT_EQ(tls::decode<Color>(Bytes{0, 2}).value(), Color::kGreen);
  auto r = tls::decode<Color>(Bytes{0, 3});
  ASSERT_FALSE(r.has_value());
  EXPECT_STREQ(r.error().message(), "unknown enum value");
  // An enum without a validator keeps unknown values (e.g. extension types
  // that MLS says to ignore).
  EXPECT_EQ(static_cast<int>(tls::decode<Open>(Bytes{9}).value()), 9);
}

TEST(Codec, CustomCodecVariants) {
  Shape square{1, 300, {}};
  Shape named{2, 0, {'x'}};
  EXPECT_EQ(tls::encode(square), (Bytes{1, 0x01, 0x2c}));
  EXPECT_EQ(tls::decode<Shape>(tls::encode(named)).value(), named);
  std::vector<Shape> shapes = {square, named};
  EXPECT_EQ(tls::decode<std::vector<Shape>>(tls::encode(shapes)).value(), shapes);
  EXPECT_FALSE(tls::decode<Shape>(Bytes{3}).has_value());
}

TEST(Codec, LongVectorsGetMultiByteHeaders) {
  std::vector<Inner> many(100, Inner{1, Bytes(100, 2)});
  Bytes wire = tls::encode(many);
  // 100 elements * (1 tag + 2 header + 100 data) = 10300 -> 2-byte header.
  ASSERT_EQ(wire.size(), 10302u);
  EXPECT_EQ(wire[0], 0x40 | (10300 >> 8));
  EXPECT_EQ(wire[1], 10300 & 0xff);
  EXPECT_EQ(tls::decode<std::vector<Inner>>(wire).value(), many);
}

TEST(Codec, SecretBytesDecodeIntoWipedStorage) {
  SecretBytes secret = SecretBytes::copy_of(Bytes{1, 2, 3});
  Bytes wire = tls::encode(secret);
  EXPECT_EQ(wire, (Bytes{3, 1, 2, 3}));
  EXPECT_TRUE(tls::decode<SecretBytes>(wire).value() == secret);
}

}  // namespace
}  // namespace pmos

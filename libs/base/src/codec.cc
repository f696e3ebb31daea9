#include "pmos/base/codec.h"

#include "pmos/base/check.h"

namespace pmos::tls {

void Writer::u16(std::uint16_t v) {
  std::uint8_t b[2] = {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
  raw(b);
}

void Writer::u32(std::uint32_t v) {
  std::uint8_t b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
  raw(b);
}

void Writer::u64(std::uint64_t v) {
  std::uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
  raw(b);
}

// RFC 9420 §2.1.2: the two top bits of the first byte give the header size
// (00: 1 byte, 01: 2, 10: 4); we always pick the smallest, as required.
static std::size_t varint_size(std::uint64_t v) { return v < 0x40 ? 1 : v < 0x4000 ? 2 : 4; }

static void put_varint(std::uint8_t* out, std::uint64_t v) {
  switch (varint_size(v)) {
    case 1:
      out[0] = static_cast<std::uint8_t>(v);
      break;
    case 2:
      out[0] = static_cast<std::uint8_t>(0x40 | v >> 8);
      out[1] = static_cast<std::uint8_t>(v);
      break;
    default:
      out[0] = static_cast<std::uint8_t>(0x80 | v >> 24);
      out[1] = static_cast<std::uint8_t>(v >> 16);
      out[2] = static_cast<std::uint8_t>(v >> 8);
      out[3] = static_cast<std::uint8_t>(v);
  }
}

void Writer::varint(std::uint64_t v) {
  VERIFY(v <= kMaxVarint);  // a vector over 1 GiB of our own making is a bug
  std::uint8_t header[4];
  put_varint(header, v);
  raw(BytesView(header, varint_size(v)));
}

void Writer::end_vector(std::size_t mark) {
  VERIFY(mark <= out_.size());
  std::uint64_t length = out_.size() - mark;
  VERIFY(length <= kMaxVarint);
  std::uint8_t header[4];
  put_varint(header, length);
  // Shifting the body once is cheaper than a sizing pass over nested structs.
  out_.insert(out_.begin() + static_cast<std::ptrdiff_t>(mark), header, header + varint_size(length));
}

ErrorOr<BytesView> Reader::raw(std::size_t size) {
  if (size > remaining()) return Error::decode("input is truncated");
  BytesView out = data_.subspan(pos_, size);
  pos_ += size;
  return out;
}

ErrorOr<std::uint8_t> Reader::u8() { return TRY(raw(1))[0]; }

ErrorOr<std::uint16_t> Reader::u16() {
  BytesView b = TRY(raw(2));
  return static_cast<std::uint16_t>(b[0] << 8 | b[1]);
}

ErrorOr<std::uint32_t> Reader::u32() {
  BytesView b = TRY(raw(4));
  return std::uint32_t{b[0]} << 24 | std::uint32_t{b[1]} << 16 | std::uint32_t{b[2]} << 8 | b[3];
}

ErrorOr<std::uint64_t> Reader::u64() {
  BytesView b = TRY(raw(8));
  std::uint64_t v = 0;
  for (std::uint8_t byte : b) v = v << 8 | byte;
  return v;
}

ErrorOr<std::uint64_t> Reader::varint() {
  std::uint8_t first = TRY(u8());
  std::size_t size = std::size_t{1} << (first >> 6);
  if (size == 8) return Error::decode("length header uses the reserved 0b11 prefix (length over 2^30)");
  std::uint64_t v = first & 0x3f;
  BytesView rest = TRY(raw(size - 1));
  for (std::uint8_t byte : rest) v = v << 8 | byte;
  if (varint_size(v) != size) return Error::decode("length header is not minimally encoded");
  return v;
}

ErrorOr<BytesView> Reader::opaque() {
  std::uint64_t size = TRY(varint());
  if (size > remaining()) return Error::decode("vector length exceeds the remaining input");
  return raw(static_cast<std::size_t>(size));
}

ErrorOr<Reader> Reader::vector() { return Reader(TRY(opaque())); }

ErrorOr<void> Reader::finish() const {
  if (!empty()) return Error::decode("trailing bytes after the end of the structure");
  return {};
}

Bytes encode_varint(std::uint64_t value) {
  Writer w;
  w.varint(value);
  return std::move(w).take();
}

ErrorOr<std::uint64_t> decode_varint(BytesView data) {
  Reader r(data);
  std::uint64_t v = TRY(r.varint());
  TRY(r.finish());
  return v;
}

}  // namespace pmos::tls

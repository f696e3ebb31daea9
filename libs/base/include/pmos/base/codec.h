#pragma once

// The TLS presentation language (RFC 8446 §3) as MLS uses it: big-endian
// integers, fixed arrays, and vectors whose length header is the variable-size
// integer of RFC 9420 §2.1.2. A struct declares its wire fields beside its
// members:
//
//   struct KeyPackageRef {
//     CipherSuite cipher_suite;
//     Bytes hash;  // opaque<V>
//     static auto tls_fields(auto& self) { return std::tie(self.cipher_suite, self.hash); }
//   };
//
// and then encode(value) / decode<T>(bytes) work. Types whose wire form is not
// a plain sequence (MLS `select` variants) instead provide
//   void tls_encode(tls::Writer&) const;  static ErrorOr<T> tls_decode(tls::Reader&);
// An enum whose unknown values the spec forbids provides, by ADL,
//   bool tls_enum_valid(E);
//
// Decoding is strict and never trusts a length: truncated input, trailing
// bytes, non-minimal or reserved length headers, optional flags other than 0/1
// and unknown enum values are errors. Because every encoding is canonical,
// decode() succeeding implies encode() returns the input byte for byte.

#include <array>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/base/secret_bytes.h"

namespace pmos::tls {

// Largest length a varint header can carry (RFC 9420 §2.1.2: 30 bits).
inline constexpr std::uint64_t kMaxVarint = (std::uint64_t{1} << 30) - 1;

// Appends the wire form to a growing buffer. Not thread-safe.
class Writer {
 public:
  Writer() = default;
  explicit Writer(std::size_t reserve) { out_.reserve(reserve); }

  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v);
  void u32(std::uint32_t v);
  void u64(std::uint64_t v);
  void raw(BytesView bytes) { out_.insert(out_.end(), bytes.begin(), bytes.end()); }
  // A length header; `v` must not exceed kMaxVarint (these are lengths of
  // our own buffers, so exceeding it is a bug and aborts).
  void varint(std::uint64_t v);
  // opaque<V>: header and bytes.
  void opaque(BytesView bytes) {
    varint(bytes.size());
    raw(bytes);
  }

  // For vectors of structs, whose byte length is known only once written:
  // begin_vector() marks the start; end_vector() inserts the header there.
  std::size_t begin_vector() const { return out_.size(); }
  void end_vector(std::size_t mark);

  std::size_t size() const { return out_.size(); }
  BytesView view() const { return out_; }
  Bytes take() && { return std::move(out_); }

 private:
  Bytes out_;
};

// Reads the wire form from a borrowed buffer, never past its end. Not
// thread-safe; the buffer must outlive the reader and the views it returns.
class Reader {
 public:
  explicit Reader(BytesView data) : data_(data) {}

  ErrorOr<std::uint8_t> u8();
  ErrorOr<std::uint16_t> u16();
  ErrorOr<std::uint32_t> u32();
  ErrorOr<std::uint64_t> u64();
  ErrorOr<BytesView> raw(std::size_t size);
  // A length header, minimal and at most kMaxVarint.
  ErrorOr<std::uint64_t> varint();
  // opaque<V>, as a view into the input.
  ErrorOr<BytesView> opaque();
  // Reads a length header and returns a reader over exactly that many bytes,
  // which this reader skips.
  ErrorOr<Reader> vector();

  bool empty() const { return pos_ == data_.size(); }
  std::size_t remaining() const { return data_.size() - pos_; }
  // Error unless every byte was consumed.
  ErrorOr<void> finish() const;

 private:
  BytesView data_;
  std::size_t pos_ = 0;
};

// --- The codec of each kind of type -----------------------------------------

template <typename T>
concept HasTlsFields = requires(T& t) {
  T::tls_fields(t);
};

template <typename T>
concept HasCustomCodec = requires(const T& t, Writer& w, Reader& r) {
  t.tls_encode(w);
  { T::tls_decode(r) } -> std::same_as<ErrorOr<T>>;
};

template <typename E>
concept HasEnumValidation = std::is_enum_v<E> && requires(E e) {
  { tls_enum_valid(e) } -> std::same_as<bool>;
};

template <typename T>
struct IsStdVector : std::false_type {};
template <typename T>
struct IsStdVector<std::vector<T>> : std::true_type {};
template <typename T>
struct IsStdOptional : std::false_type {};
template <typename T>
struct IsStdOptional<std::optional<T>> : std::true_type {};
template <typename T>
struct IsStdArray : std::false_type {};
template <typename T, std::size_t N>
struct IsStdArray<std::array<T, N>> : std::true_type {};

template <typename T>
void write(Writer& w, const T& value);
template <typename T>
ErrorOr<void> read(Reader& r, T& value);

template <typename T>
void write(Writer& w, const T& value) {
  if constexpr (HasCustomCodec<T>) {
    value.tls_encode(w);
  } else if constexpr (HasTlsFields<T>) {
    std::apply([&w](const auto&... field) { (write(w, field), ...); }, T::tls_fields(const_cast<T&>(value)));
  } else if constexpr (std::is_enum_v<T>) {
    write(w, static_cast<std::underlying_type_t<T>>(value));
  } else if constexpr (std::is_same_v<T, bool>) {
    static_assert(!std::is_same_v<T, bool>, "TLS has no bool; use std::optional or uint8_t");
  } else if constexpr (std::is_same_v<T, std::uint8_t>) {
    w.u8(value);
  } else if constexpr (std::is_same_v<T, std::uint16_t>) {
    w.u16(value);
  } else if constexpr (std::is_same_v<T, std::uint32_t>) {
    w.u32(value);
  } else if constexpr (std::is_same_v<T, std::uint64_t>) {
    w.u64(value);
  } else if constexpr (std::is_same_v<T, Bytes> || std::is_same_v<T, std::string> ||
                       std::is_same_v<T, SecretBytes>) {
    w.opaque(BytesView(reinterpret_cast<const std::uint8_t*>(value.data()), value.size()));
  } else if constexpr (IsStdVector<T>::value) {
    auto mark = w.begin_vector();
    for (const auto& element : value) write(w, element);
    w.end_vector(mark);
  } else if constexpr (IsStdOptional<T>::value) {
    w.u8(value.has_value() ? 1 : 0);
    if (value) write(w, *value);
  } else if constexpr (IsStdArray<T>::value) {
    if constexpr (std::is_same_v<typename T::value_type, std::uint8_t>) {
      w.raw(value);
    } else {
      for (const auto& element : value) write(w, element);
    }
  } else {
    static_assert(sizeof(T) == 0, "no TLS codec for this type");
  }
}

template <typename T>
ErrorOr<void> read(Reader& r, T& value) {
  if constexpr (HasCustomCodec<T>) {
    value = TRY(T::tls_decode(r));
  } else if constexpr (HasTlsFields<T>) {
    ErrorOr<void> result;
    std::apply(
        [&](auto&... field) {
          // Stops at the first failing field.
          ((result.has_value() ? (result = read(r, field), 0) : 0), ...);
        },
        T::tls_fields(value));
    return result;
  } else if constexpr (std::is_enum_v<T>) {
    std::underlying_type_t<T> raw{};
    TRY(read(r, raw));
    value = static_cast<T>(raw);
    if constexpr (HasEnumValidation<T>) {
      if (!tls_enum_valid(value)) return Error::decode("unknown enum value");
    }
  } else if constexpr (std::is_same_v<T, std::uint8_t>) {
    value = TRY(r.u8());
  } else if constexpr (std::is_same_v<T, std::uint16_t>) {
    value = TRY(r.u16());
  } else if constexpr (std::is_same_v<T, std::uint32_t>) {
    value = TRY(r.u32());
  } else if constexpr (std::is_same_v<T, std::uint64_t>) {
    value = TRY(r.u64());
  } else if constexpr (std::is_same_v<T, Bytes>) {
    BytesView bytes = TRY(r.opaque());
    value.assign(bytes.begin(), bytes.end());
  } else if constexpr (std::is_same_v<T, std::string>) {
    value = std::string(as_string(TRY(r.opaque())));
  } else if constexpr (std::is_same_v<T, SecretBytes>) {
    value = SecretBytes::copy_of(TRY(r.opaque()));
  } else if constexpr (IsStdVector<T>::value) {
    Reader body = TRY(r.vector());
    value.clear();
    while (!body.empty()) {
      typename T::value_type element{};
      TRY(read(body, element));
      value.push_back(std::move(element));
    }
  } else if constexpr (IsStdOptional<T>::value) {
    std::uint8_t present = TRY(r.u8());
    if (present > 1) return Error::decode("optional presence flag is neither 0 nor 1");
    value.reset();
    if (present == 1) {
      typename T::value_type inner{};
      TRY(read(r, inner));
      value = std::move(inner);
    }
  } else if constexpr (IsStdArray<T>::value) {
    if constexpr (std::is_same_v<typename T::value_type, std::uint8_t>) {
      BytesView bytes = TRY(r.raw(value.size()));
      std::memcpy(value.data(), bytes.data(), bytes.size());
    } else {
      for (auto& element : value) TRY(read(r, element));
    }
  } else {
    static_assert(sizeof(T) == 0, "no TLS codec for this type");
  }
  return {};
}

// --- Entry points -----------------------------------------------------------

template <typename T>
Bytes encode(const T& value) {
  Writer w;
  write(w, value);
  return std::move(w).take();
}

// Decodes exactly one T from all of `data`; trailing bytes are an error.
template <typename T>
ErrorOr<T> decode(BytesView data) {
  Reader r(data);
  T value{};
  TRY(read(r, value));
  TRY(r.finish());
  return value;
}

// The varint alone, as the deserialization vectors test it.
Bytes encode_varint(std::uint64_t value);
ErrorOr<std::uint64_t> decode_varint(BytesView data);

}  // namespace pmos::tls

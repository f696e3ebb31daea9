#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pmos/base/error_or.h"

namespace pmos {

// Owned bytes (outputs) and borrowed bytes (inputs). Functions take BytesView
// and return Bytes; (pointer, length) pairs appear only at C boundaries.
using Bytes = std::vector<std::uint8_t>;
using BytesView = std::span<const std::uint8_t>;
using MutableBytesView = std::span<std::uint8_t>;

// The bytes of a string, without its terminator. The view borrows `text`.
inline BytesView as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}
inline std::string_view as_string(BytesView bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}
inline Bytes to_bytes(BytesView view) { return Bytes(view.begin(), view.end()); }
inline Bytes to_bytes(std::string_view text) { return to_bytes(as_bytes(text)); }

// Appends `tail` to `out`.
inline void append(Bytes& out, BytesView tail) { out.insert(out.end(), tail.begin(), tail.end()); }

// Equality whose running time depends only on the lengths, never on the
// contents: use it for MACs, tags and any other secret. Lengths are public.
bool constant_time_equal(BytesView a, BytesView b);

// Lower-case hex. from_hex accepts either case and rejects odd lengths and
// any character that is not a hex digit.
std::string to_hex(BytesView bytes);
ErrorOr<Bytes> from_hex(std::string_view hex);

}  // namespace pmos

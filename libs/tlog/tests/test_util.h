#pragma once

#include <string>

#include "pmos/base/bytes.h"
#include "pmos/tlog/merkle.h"

namespace pmos::tlog::testing {

inline Hash hash_from_hex(std::string_view hex) {
  Hash h{};
  auto bytes = from_hex(hex);
  if (bytes && bytes->size() == h.size()) std::copy(bytes->begin(), bytes->end(), h.begin());
  return h;
}

// The entry used for leaf i in generated trees.
inline Bytes entry(std::uint64_t i) { return to_bytes("entry " + std::to_string(i)); }

}  // namespace pmos::tlog::testing

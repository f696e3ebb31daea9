#pragma once

// The property every MLS decoder fuzzer checks: whatever decodes re-encodes
// to exactly the input (the encoding is canonical), and nothing crashes,
// leaks or reads out of bounds (ASan/UBSan in the fuzz preset).

#include <algorithm>
#include <cstdlib>

#include "pmos/base/codec.h"

namespace pmos::mls::fuzz {

template <typename T>
void check_round_trip(BytesView input) {
  auto decoded = tls::decode<T>(input);
  if (!decoded.has_value()) return;
  Bytes again = tls::encode(*decoded);
  if (again.size() != input.size() || !std::equal(again.begin(), again.end(), input.begin())) std::abort();
}

}  // namespace pmos::mls::fuzz

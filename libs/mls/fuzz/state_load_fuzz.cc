// Fuzzes State::load, the decoder of a saved group state (its layout grew
// Update keys and the ReInit that ended a group): any input either loads or
// is refused, and a loaded state saves back to the same bytes.
#include <cstdlib>

#include "pmos/mls/state.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pmos::BytesView input(data, size);
  auto state = pmos::mls::State::load(input);
  if (!state) return 0;
  pmos::SecretBytes saved = state->save();
  auto again = pmos::mls::State::load(saved.view());
  if (!again || again->save() != saved) std::abort();
  return 0;
}

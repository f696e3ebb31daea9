// Fuzzes Welcome decoding and the GroupSecrets found inside one.
#include "pmos/mls/welcome.h"
#include "round_trip.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pmos::BytesView input(data, size);
  pmos::mls::fuzz::check_round_trip<pmos::mls::Welcome>(input);
  pmos::mls::fuzz::check_round_trip<pmos::mls::GroupSecrets>(input);
  return 0;
}

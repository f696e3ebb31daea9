// Fuzzes GroupInfo decoding and the ratchet tree that travels in its
// ratchet_tree extension.
#include "pmos/mls/group_info.h"
#include "pmos/mls/ratchet_tree.h"
#include "round_trip.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pmos::BytesView input(data, size);
  pmos::mls::fuzz::check_round_trip<pmos::mls::GroupInfo>(input);
  pmos::mls::fuzz::check_round_trip<pmos::mls::RatchetTree>(input);
  return 0;
}

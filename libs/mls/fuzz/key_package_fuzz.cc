// Fuzzes KeyPackage decoding (leaf nodes, credentials, capabilities,
// extension lists).
#include "pmos/mls/key_package.h"
#include "round_trip.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pmos::mls::fuzz::check_round_trip<pmos::mls::KeyPackage>(pmos::BytesView(data, size));
  return 0;
}

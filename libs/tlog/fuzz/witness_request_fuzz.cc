// Feeds arbitrary bytes to the tlog-witness add-checkpoint and size parsers;
// what parses must format back to the same bytes (one spelling per request).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "pmos/tlog/witness.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pmos::tlog;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto request = parse_add_checkpoint_request(input);
  if (request) {
    auto text = format_add_checkpoint_request(*request);
    if (!text || *text != input) std::abort();
  }
  auto witness_size = parse_witness_size(input);
  if (witness_size && format_witness_size(*witness_size) != input) std::abort();
  return 0;
}

// Fuzzes the broker's request and response decoders. Property: nothing
// crashes; what decodes re-encodes to exactly the input (one encoding each).
#include <cstdlib>

#include "pmos/device/broker.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pmos::BytesView input(data, size);
  if (auto request = pmos::device::decode_broker_request(input)) {
    pmos::Bytes again = pmos::device::encode_broker_request(*request);
    if (again.size() != size || !std::equal(again.begin(), again.end(), input.begin())) std::abort();
  }
  if (auto response = pmos::device::decode_broker_response(input)) {
    pmos::Bytes again = pmos::device::encode_broker_response(*response);
    if (again.size() != size || !std::equal(again.begin(), again.end(), input.begin())) std::abort();
  }
  return 0;
}

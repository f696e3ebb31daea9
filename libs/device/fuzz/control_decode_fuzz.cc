// Fuzzes pmosd's control request and response decoders. Property: nothing
// crashes; what decodes re-encodes to exactly the input.
#include <cstdlib>

#include "pmos/base/codec.h"
#include "pmos/device/control.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pmos::BytesView input(data, size);
  if (auto request = pmos::device::decode_control_request(input)) {
    pmos::Bytes again = pmos::tls::encode(*request);
    if (again.size() != size || !std::equal(again.begin(), again.end(), input.begin())) std::abort();
  }
  if (auto response = pmos::device::decode_control_response(input)) {
    pmos::Bytes again = pmos::tls::encode(*response);
    if (again.size() != size || !std::equal(again.begin(), again.end(), input.begin())) std::abort();
  }
  return 0;
}

// Differential: pmos-launch's freestanding response decoder (control_wire.h)
// must accept exactly what decode_control_response accepts, with the same fields.
#include <cstdlib>
#include <cstring>

#include "pmos/device/control.h"
#include "pmos/device/control_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto reference = pmos::device::decode_control_response(pmos::BytesView(data, size));
  pmos::device::control_wire::Response out;
  bool ours = pmos::device::control_wire::decode_response(data, size, &out);
  if (ours != reference.has_value()) std::abort();
  if (ours && (out.status != static_cast<std::uint8_t>(reference->status) || out.exit_code != reference->exit_code ||
               out.text_size != reference->text.size() ||
               (out.text_size != 0 && std::memcmp(out.text, reference->text.data(), out.text_size) != 0)))
    std::abort();
  return 0;
}

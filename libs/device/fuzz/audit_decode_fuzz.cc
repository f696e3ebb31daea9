// Fuzzes the audit log and head decoders and the verifier. Property: nothing
// crashes or reads out of bounds; a decoded log re-encodes to the input.
#include <cstdlib>

#include "pmos/base/codec.h"
#include "pmos/crypto/signature.h"
#include "pmos/device/audit.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const pmos::crypto::PrivateKey key = [] {
    auto k = pmos::crypto::ed25519().generate();
    if (!k) std::abort();
    return std::move(k).value();
  }();
  pmos::BytesView input(data, size);
  if (auto entries = pmos::device::decode_audit_log(input)) {
    pmos::Bytes again;
    for (const auto& entry : *entries) pmos::append(again, pmos::device::encode_audit_record(entry));
    if (again.size() != size || !std::equal(again.begin(), again.end(), input.begin())) std::abort();
  }
  if (auto head = pmos::device::decode_audit_head(input)) {
    if (pmos::tls::encode(*head).size() != size) std::abort();
  }
  // Split the input into a log and a head and verify: must fail cleanly.
  std::size_t cut = size / 2;
  (void)pmos::device::verify_audit(input.first(cut), input.subspan(cut), key.public_key());
  return 0;
}

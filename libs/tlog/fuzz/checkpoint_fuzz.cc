// Feeds arbitrary bytes to the checkpoint parser (as note text and inside a
// note); a parsed checkpoint must format back to the same text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "pmos/tlog/checkpoint.h"
#include "pmos/tlog/cosignature.h"
#include "pmos/tlog/note_keys.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pmos::tlog;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto checkpoint = parse_checkpoint(input);
  if (checkpoint) {
    auto text = format_checkpoint(*checkpoint);
    if (!text || *text != input) std::abort();
  }
  static const Ed25519NoteVerifier log =
      Ed25519NoteVerifier::from_vkey("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").value();
  static const WitnessPolicy policy = [] {
    std::vector<CosignatureVerifier> witnesses;
    witnesses.push_back(CosignatureSigner::from_seed("w", pmos::Bytes(32, 1)).value().verifier());
    return WitnessPolicy::create(std::move(witnesses), 1).value();
  }();
  (void)open_checkpoint(input, "PeterNeumann", log);
  (void)open_witnessed_checkpoint(input, "PeterNeumann", log, policy, 1000);
  return 0;
}

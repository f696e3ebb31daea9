// Fuzzes the chat envelope and conversation info decoders: whatever decodes
// must re-encode to the same bytes (the encodings are canonical).
#include <cstdlib>

#include "pmos/chat/envelope.h"

namespace {
template <typename T>
void check(pmos::BytesView input) {
  auto decoded = pmos::tls::decode<T>(input);
  if (!decoded) return;
  pmos::Bytes again = pmos::tls::encode(*decoded);
  if (again.size() != input.size() || !std::equal(again.begin(), again.end(), input.begin())) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pmos::BytesView input(data, size);
  check<pmos::chat::Envelope>(input);
  check<pmos::chat::ConversationInfo>(input);
  return 0;
}

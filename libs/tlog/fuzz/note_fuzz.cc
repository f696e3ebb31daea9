// Feeds arbitrary bytes to the note parser and, when they parse, checks
// that formatting gives the input back (the format is canonical) and that
// opening with a fixed key never crashes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "pmos/tlog/note.h"
#include "pmos/tlog/note_keys.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pmos::tlog;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  static const Ed25519NoteVerifier verifier =
      Ed25519NoteVerifier::from_vkey("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").value();
  auto note = parse_note(input);
  if (note) {
    auto formatted = format_note(*note);
    if (!formatted || *formatted != input) std::abort();
  }
  const NoteVerifier* verifiers[] = {&verifier};
  auto opened = open_note(input, verifiers);
  if (opened && !note) std::abort();
  (void)parse_signature_lines(input);
  (void)parse_vkey(input);
  (void)Ed25519NoteSigner::from_skey(input);
  return 0;
}

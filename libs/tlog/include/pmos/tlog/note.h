#pragma once

// Signed notes, C2SP signed-note v1.0.0: UTF-8 text ending in a newline, a
// blank line, then one or more signature lines
//
//   — <key name> base64(uint32 key id || signature)
//
// (U+2014 em dash). Keys are identified by (name, key id); signatures from
// keys the verifier does not know are ignored, so logs, witnesses and key
// rotations can add signatures without breaking old clients.
//
// parse_note()/format_note() handle syntax only. open_note() is the one
// function that decides whether to trust a note's text.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"

namespace pmos::tlog {

// Bounds on input from outside. The spec asks verifiers to accept at least
// 16 signatures; 100 leaves room for many witnesses, and 1 MiB for
// post-quantum signatures of several kB each, while keeping a hostile note
// from costing more than one bounded parse.
inline constexpr std::size_t kMaxNoteSize = std::size_t{1} << 20;
inline constexpr std::size_t kMaxNoteSignatures = 100;

// One signature line: the key's name and id and the signature proper.
struct NoteSignature {
  std::string name;
  std::uint32_t key_id = 0;
  Bytes signature;  // without the 4-byte key id
  friend bool operator==(const NoteSignature&, const NoteSignature&) = default;
};

// A note as text plus signature lines; neither is trusted until open_note()
// has verified it.
struct Note {
  std::string text;  // ends in '\n'; excludes the blank separator line
  std::vector<NoteSignature> signatures;
};

// Checks a key name: non-empty, valid UTF-8, no Unicode space, no '+', no
// control character.
bool is_valid_key_name(std::string_view name);
// Checks note text: non-empty, ends in '\n', valid UTF-8, no control
// character other than '\n', at most kMaxNoteSize bytes.
ErrorOr<void> check_note_text(std::string_view text);

// Splits a note at its last blank line and parses the signature lines.
// Refuses (kDecode, each with its own message): more than kMaxNoteSize bytes,
// invalid UTF-8, control characters, no blank line, no or too many
// signatures, a malformed signature line or key name, non-canonical base64,
// a signature shorter than its key id.
ErrorOr<Note> parse_note(std::string_view note);
// The inverse: text, blank line, signature lines. Refuses what parse_note
// would refuse.
ErrorOr<std::string> format_note(const Note& note);

// "— <name> <base64>\n" and back (the body a witness returns is a sequence
// of these lines, tlog-witness add-checkpoint).
std::string format_signature_line(const NoteSignature& signature);
ErrorOr<std::vector<NoteSignature>> parse_signature_lines(std::string_view lines);

// A key that can check signatures on note text. Implementations are
// immutable and thread-safe.
class NoteVerifier {
 public:
  virtual ~NoteVerifier() = default;
  virtual std::string_view name() const = 0;
  virtual std::uint32_t key_id() const = 0;
  // `signature` excludes the key id. A bad signature is a kCrypto error.
  virtual ErrorOr<void> verify(std::string_view text, BytesView signature) const = 0;
};

// A key that signs note text. Implementations are immutable and thread-safe.
class NoteSigner {
 public:
  virtual ~NoteSigner() = default;
  virtual std::string_view name() const = 0;
  virtual std::uint32_t key_id() const = 0;
  // The signature over `text` (a valid note text), without the key id.
  virtual ErrorOr<Bytes> sign(std::string_view text) const = 0;
};

// A note whose text is trusted: at least one signature by a given verifier
// checked out.
struct OpenedNote {
  std::string text;
  // Signatures by the given verifiers, all verified; verified_by[i] is the
  // index into `verifiers` of the key that made verified[i].
  std::vector<NoteSignature> verified;
  std::vector<std::size_t> verified_by;
  // Signatures by keys not in `verifiers`, ignored as the spec requires.
  std::vector<NoteSignature> unverified;
};

// Parses `note` and checks every signature whose (name, key id) matches one
// of `verifiers`. Refuses the note if any such signature fails (an attacker
// who can produce a failing signature from a trusted key is not someone
// whose other lines we want to believe), if none of `verifiers` signed it,
// or if two verifiers share a (name, key id). Exact duplicate lines count
// once. Callers needing a particular key (the log's) check verified_by.
ErrorOr<OpenedNote> open_note(std::string_view note, std::span<const NoteVerifier* const> verifiers);

// Signs `note.text` with each signer and formats the note. Existing
// signatures by the same (name, key id) as a signer are replaced; others
// are kept in order, then the new ones follow.
ErrorOr<std::string> sign_note(const Note& note, std::span<const NoteSigner* const> signers);

}  // namespace pmos::tlog

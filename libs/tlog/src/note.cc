#include "pmos/tlog/note.h"

#include <algorithm>

#include "base64.h"
#include "pmos/base/check.h"
#include "utf8.h"

namespace pmos::tlog {
namespace {

constexpr std::string_view kSignaturePrefix = "\xe2\x80\x94 ";  // U+2014 EM DASH, space
constexpr std::size_t kKeyIdSize = 4;

// signed-note: valid UTF-8, no control character below U+0020 but '\n'.
ErrorOr<void> check_characters(std::string_view text) {
  for (std::size_t pos = 0; pos < text.size();) {
    auto c = detail::next_code_point(text, pos);
    if (!c) return Error::decode("note: not valid UTF-8");
    if (*c < 0x20 && *c != '\n') return Error::decode("note: contains a control character");
  }
  return {};
}

ErrorOr<NoteSignature> parse_signature_line(std::string_view line) {
  if (!line.starts_with(kSignaturePrefix)) {
    return Error::decode("note: signature line does not start with an em dash and a space");
  }
  line.remove_prefix(kSignaturePrefix.size());
  std::size_t space = line.find(' ');
  if (space == std::string_view::npos) return Error::decode("note: signature line has no signature after the key name");
  NoteSignature signature;
  std::string_view name = line.substr(0, space);
  if (!is_valid_key_name(name)) return Error::decode("note: signature line has an invalid key name");
  auto decoded = detail::base64_decode(line.substr(space + 1));
  if (!decoded) return Error::decode("note: signature is not valid base64");
  Bytes bytes = decoded.release_value();
  if (bytes.size() <= kKeyIdSize) return Error::decode("note: signature is not longer than a key id");
  signature.name = std::string(name);
  signature.key_id = (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) |
                     (std::uint32_t{bytes[2]} << 8) | bytes[3];
  signature.signature.assign(bytes.begin() + kKeyIdSize, bytes.end());
  return signature;
}

ErrorOr<void> check_signature(const NoteSignature& signature) {
  if (!is_valid_key_name(signature.name)) return Error::invalid_argument("note: invalid key name");
  if (signature.signature.empty()) return Error::invalid_argument("note: empty signature");
  return {};
}

}  // namespace

bool is_valid_key_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t pos = 0; pos < name.size();) {
    auto c = detail::next_code_point(name, pos);
    if (!c || *c < 0x20 || *c == '+' || detail::is_unicode_space(*c)) return false;
  }
  return true;
}

ErrorOr<void> check_note_text(std::string_view text) {
  if (text.size() > kMaxNoteSize) return Error::decode("note: longer than the 1 MiB limit");
  if (text.empty()) return Error::decode("note: text is empty");
  if (text.back() != '\n') return Error::decode("note: text does not end with a newline");
  return check_characters(text);
}

ErrorOr<std::vector<NoteSignature>> parse_signature_lines(std::string_view lines) {
  if (lines.empty()) return Error::decode("note: no signature lines");
  if (lines.back() != '\n') return Error::decode("note: does not end with a newline");
  TRY(check_characters(lines));
  std::vector<NoteSignature> signatures;
  while (!lines.empty()) {
    if (signatures.size() == kMaxNoteSignatures) return Error::decode("note: more signatures than the limit of 100");
    std::size_t end = lines.find('\n');
    signatures.push_back(TRY(parse_signature_line(lines.substr(0, end))));
    lines.remove_prefix(end + 1);
  }
  return signatures;
}

ErrorOr<Note> parse_note(std::string_view note) {
  // Size first, so nothing below ever works on more than kMaxNoteSize bytes.
  if (note.size() > kMaxNoteSize) return Error::decode("note: longer than the 1 MiB limit");
  if (note.empty() || note.back() != '\n') return Error::decode("note: does not end with a newline");
  TRY(check_characters(note));
  // The text ends at the *last* blank line: the text itself may contain
  // blank lines, signature lines cannot.
  std::size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) return Error::decode("note: no blank line before the signatures");
  Note result;
  result.text = std::string(note.substr(0, split + 1));
  std::string_view lines = note.substr(split + 2);
  if (lines.empty()) return Error::decode("note: no signature lines");
  result.signatures = TRY(parse_signature_lines(lines));
  return result;
}

std::string format_signature_line(const NoteSignature& signature) {
  Bytes bytes = {static_cast<std::uint8_t>(signature.key_id >> 24), static_cast<std::uint8_t>(signature.key_id >> 16),
                 static_cast<std::uint8_t>(signature.key_id >> 8), static_cast<std::uint8_t>(signature.key_id)};
  append(bytes, signature.signature);
  std::string line(kSignaturePrefix);
  line += signature.name;
  line += ' ';
  line += detail::base64_encode(bytes);
  line += '\n';
  return line;
}

ErrorOr<std::string> format_note(const Note& note) {
  TRY(check_note_text(note.text));
  if (note.signatures.empty()) return Error::invalid_argument("note: no signatures");
  if (note.signatures.size() > kMaxNoteSignatures) return Error::invalid_argument("note: more signatures than the limit of 100");
  std::string out = note.text;
  out += '\n';
  for (const NoteSignature& signature : note.signatures) {
    TRY(check_signature(signature));
    out += format_signature_line(signature);
  }
  if (out.size() > kMaxNoteSize) return Error::invalid_argument("note: longer than the 1 MiB limit");
  return out;
}

ErrorOr<OpenedNote> open_note(std::string_view note, std::span<const NoteVerifier* const> verifiers) {
  for (std::size_t i = 0; i < verifiers.size(); ++i) {
    VERIFY(verifiers[i] != nullptr);
    for (std::size_t j = 0; j < i; ++j) {
      if (verifiers[i]->name() == verifiers[j]->name() && verifiers[i]->key_id() == verifiers[j]->key_id()) {
        // Which of the two keys a signature is meant for would be a guess.
        return Error::invalid_argument("note: two verifiers share a key name and id");
      }
    }
  }
  Note parsed = TRY(parse_note(note));
  OpenedNote opened;
  opened.text = std::move(parsed.text);
  for (NoteSignature& signature : parsed.signatures) {
    auto known = std::find_if(verifiers.begin(), verifiers.end(), [&](const NoteVerifier* v) {
      return v->name() == signature.name && v->key_id() == signature.key_id;
    });
    if (known == verifiers.end()) {
      // Unknown keys are ignored, even if they share a name or id with a
      // known key (signed-note §Signatures).
      if (std::find(opened.unverified.begin(), opened.unverified.end(), signature) == opened.unverified.end()) {
        opened.unverified.push_back(std::move(signature));
      }
      continue;
    }
    if (std::find(opened.verified.begin(), opened.verified.end(), signature) != opened.verified.end()) continue;
    if (!(*known)->verify(opened.text, signature.signature)) {
      return Error::crypto("note: a signature by a known key does not verify");
    }
    opened.verified_by.push_back(static_cast<std::size_t>(known - verifiers.begin()));
    opened.verified.push_back(std::move(signature));
  }
  if (opened.verified.empty()) return Error::crypto("note: no signature by a known key");
  return opened;
}

ErrorOr<std::string> sign_note(const Note& note, std::span<const NoteSigner* const> signers) {
  TRY(check_note_text(note.text));
  Note out;
  out.text = note.text;
  for (const NoteSignature& existing : note.signatures) {
    bool replaced = std::any_of(signers.begin(), signers.end(), [&](const NoteSigner* s) {
      return s->name() == existing.name && s->key_id() == existing.key_id;
    });
    if (!replaced) out.signatures.push_back(existing);
  }
  for (const NoteSigner* signer : signers) {
    VERIFY(signer != nullptr);
    if (!is_valid_key_name(signer->name())) return Error::invalid_argument("note: signer has an invalid key name");
    NoteSignature signature;
    signature.name = std::string(signer->name());
    signature.key_id = signer->key_id();
    signature.signature = TRY(signer->sign(out.text));
    out.signatures.push_back(std::move(signature));
  }
  return format_note(out);
}

}  // namespace pmos::tlog

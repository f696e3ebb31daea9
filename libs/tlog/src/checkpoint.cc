#include "pmos/tlog/checkpoint.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "base64.h"

namespace pmos::tlog {
namespace {

ErrorOr<std::uint64_t> parse_size(std::string_view line) {
  if (line.empty()) return Error::decode("checkpoint: tree size line is empty");
  if (!std::all_of(line.begin(), line.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Error::decode("checkpoint: tree size is not a decimal number");
  }
  if (line.size() > 1 && line[0] == '0') return Error::decode("checkpoint: tree size has a leading zero");
  std::uint64_t size = 0;
  auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), size);
  if (ec != std::errc() || end != line.data() + line.size()) return Error::decode("checkpoint: tree size does not fit in 64 bits");
  return size;
}

bool has_control_character(std::string_view line) {
  return std::any_of(line.begin(), line.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
}

}  // namespace

ErrorOr<Checkpoint> parse_checkpoint(std::string_view text) {
  if (auto checked = check_note_text(text); !checked) {
    // Keep the note's specific message; they all say what was wrong.
    return checked.error();
  }
  std::vector<std::string_view> lines;
  for (std::string_view rest = text; !rest.empty();) {
    std::size_t end = rest.find('\n');
    lines.push_back(rest.substr(0, end));
    rest.remove_prefix(end + 1);
  }
  if (lines.size() < 3) return Error::decode("checkpoint: fewer than three lines");
  Checkpoint checkpoint;
  if (lines[0].empty()) return Error::decode("checkpoint: origin line is empty");
  checkpoint.origin = std::string(lines[0]);
  checkpoint.size = TRY(parse_size(lines[1]));
  if (lines[2].empty()) return Error::decode("checkpoint: root hash line is empty");
  auto root = detail::base64_decode(lines[2]);
  if (!root) return Error::decode("checkpoint: root hash is not valid base64");
  if (root->size() != checkpoint.root.size()) return Error::decode("checkpoint: root hash is not 32 bytes");
  std::copy(root->begin(), root->end(), checkpoint.root.begin());
  for (std::size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) return Error::decode("checkpoint: empty extension line");
    checkpoint.extensions.emplace_back(lines[i]);
  }
  return checkpoint;
}

ErrorOr<std::string> format_checkpoint(const Checkpoint& checkpoint) {
  if (checkpoint.origin.empty()) return Error::invalid_argument("checkpoint: origin is empty");
  if (has_control_character(checkpoint.origin)) return Error::invalid_argument("checkpoint: origin contains a control character");
  std::string text = checkpoint.origin + "\n" + std::to_string(checkpoint.size) + "\n" +
                     detail::base64_encode(checkpoint.root) + "\n";
  for (const std::string& line : checkpoint.extensions) {
    if (line.empty()) return Error::invalid_argument("checkpoint: empty extension line");
    if (has_control_character(line)) return Error::invalid_argument("checkpoint: extension line contains a control character");
    text += line;
    text += '\n';
  }
  // Also checks UTF-8 and the size limit.
  TRY(check_note_text(text));
  return text;
}

ErrorOr<std::string> sign_checkpoint(const Checkpoint& checkpoint, const NoteSigner& log_key) {
  Note note;
  note.text = TRY(format_checkpoint(checkpoint));
  const NoteSigner* signers[] = {&log_key};
  return sign_note(note, signers);
}

ErrorOr<OpenedCheckpoint> open_checkpoint(std::string_view note, std::string_view origin,
                                          const NoteVerifier& log_key) {
  const NoteVerifier* verifiers[] = {&log_key};
  auto opened = open_note(note, verifiers);
  if (!opened) {
    if (opened.error() == Error::crypto("note: no signature by a known key")) {
      return Error::crypto("checkpoint: not signed by the log key");
    }
    return opened.error();
  }
  OpenedCheckpoint result;
  result.checkpoint = TRY(parse_checkpoint(opened->text));
  if (result.checkpoint.origin != origin) return Error::crypto("checkpoint: origin is not the expected log");
  result.note = opened.release_value();
  return result;
}

}  // namespace pmos::tlog

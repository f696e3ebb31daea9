#include "pmos/tlog/witness.h"

#include <algorithm>
#include <charconv>

#include "base64.h"
#include "pmos/tlog/note.h"

namespace pmos::tlog {
namespace {

ErrorOr<std::uint64_t> parse_decimal(std::string_view text, const char* what) {
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return Error::decode(what);
  // "0" is the one spelling of zero; a leading zero is another spelling of
  // the same size, which the spec forbids.
  if (text.size() > 1 && text[0] == '0') return Error::decode(what);
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return Error::decode(what);
  return value;
}

}  // namespace

ErrorOr<AddCheckpointRequest> parse_add_checkpoint_request(std::string_view body) {
  if (body.size() > kMaxNoteSize + 128 + kMaxWitnessProofLines * 46)
    return Error::decode("add-checkpoint: request too large");
  AddCheckpointRequest request;
  std::size_t end = body.find('\n');
  if (end == std::string_view::npos) return Error::decode("add-checkpoint: no old size line");
  std::string_view line = body.substr(0, end);
  constexpr std::string_view kOld = "old ";
  if (!line.starts_with(kOld)) return Error::decode("add-checkpoint: first line is not \"old <size>\"");
  request.old_size = TRY(parse_decimal(line.substr(kOld.size()), "add-checkpoint: old size is not a canonical decimal"));
  body.remove_prefix(end + 1);
  for (;;) {
    end = body.find('\n');
    if (end == std::string_view::npos) return Error::decode("add-checkpoint: no blank line before the checkpoint");
    line = body.substr(0, end);
    body.remove_prefix(end + 1);
    if (line.empty()) break;
    if (request.proof.size() == kMaxWitnessProofLines)
      return Error::decode("add-checkpoint: more than 63 consistency proof lines");
    auto hash = detail::base64_decode(line);
    if (!hash || hash->size() != sizeof(Hash))
      return Error::decode("add-checkpoint: proof line is not the base64 of a 32-byte hash");
    Hash h{};
    std::copy(hash->begin(), hash->end(), h.begin());
    request.proof.push_back(h);
  }
  if (body.empty()) return Error::decode("add-checkpoint: no checkpoint after the blank line");
  if (body.size() > kMaxNoteSize) return Error::decode("add-checkpoint: checkpoint too large");
  request.checkpoint = std::string(body);
  return request;
}

ErrorOr<std::string> format_add_checkpoint_request(const AddCheckpointRequest& request) {
  if (request.proof.size() > kMaxWitnessProofLines)
    return Error::invalid_argument("add-checkpoint: more than 63 consistency proof lines");
  if (request.checkpoint.empty()) return Error::invalid_argument("add-checkpoint: empty checkpoint");
  std::string out = "old " + std::to_string(request.old_size) + "\n";
  for (const Hash& hash : request.proof) {
    out += detail::base64_encode(hash);
    out += '\n';
  }
  out += '\n';
  out += request.checkpoint;
  return out;
}

std::string format_witness_size(std::uint64_t size) { return std::to_string(size) + "\n"; }

ErrorOr<std::uint64_t> parse_witness_size(std::string_view body) {
  if (!body.ends_with('\n')) return Error::decode("witness size: no final newline");
  body.remove_suffix(1);
  return parse_decimal(body, "witness size: not a canonical decimal");
}

}  // namespace pmos::tlog

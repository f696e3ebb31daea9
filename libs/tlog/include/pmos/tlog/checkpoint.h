#pragma once

// Checkpoints, C2SP tlog-checkpoint v1.0.0: the signed tree head as note text
//
//   <origin>\n<decimal tree size>\n<base64 root hash>\n[<extension line>\n...]
//
// signed with the log's note key (Ed25519 by default).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pmos/base/error_or.h"
#include "pmos/tlog/merkle.h"
#include "pmos/tlog/note.h"

namespace pmos::tlog {

struct Checkpoint {
  std::string origin;  // the log's identity, e.g. "authority.example/log"
  std::uint64_t size = 0;
  Hash root{};
  // Opaque, non-empty lines; the spec advises against them (monitors cannot
  // audit them) and PMOS logs do not write any, but they are accepted and
  // kept so that cosignatures over them still verify.
  std::vector<std::string> extensions;
  friend bool operator==(const Checkpoint&, const Checkpoint&) = default;
};

// Parses note text (as returned by open_note). Strict, each with its own
// message: at least three lines, no empty line, non-empty origin, size in
// decimal without leading zeroes (except "0") and fitting in 64 bits, root
// the canonical base64 of exactly 32 bytes, the text ending in a newline.
ErrorOr<Checkpoint> parse_checkpoint(std::string_view text);
// The note text of a checkpoint; refuses an empty origin, empty extension
// lines, and newlines or control characters inside a line.
ErrorOr<std::string> format_checkpoint(const Checkpoint& checkpoint);

// The signed note: checkpoint text plus the log's signature.
ErrorOr<std::string> sign_checkpoint(const Checkpoint& checkpoint, const NoteSigner& log_key);

// A checkpoint whose log signature has been verified.
struct OpenedCheckpoint {
  Checkpoint checkpoint;
  OpenedNote note;  // all signature lines, for cosignature checks or re-serving
};

// Verifies that `note` is a checkpoint of the log `origin`, signed by
// `log_key`. Other signatures (witnesses, rotated keys) are ignored here.
// The origin check matters: without it a checkpoint of another log that
// shares the key would be accepted as this log's.
ErrorOr<OpenedCheckpoint> open_checkpoint(std::string_view note, std::string_view origin,
                                          const NoteVerifier& log_key);

}  // namespace pmos::tlog

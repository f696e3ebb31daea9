#pragma once

// The add-checkpoint request of C2SP tlog-witness v1.0.0 (syntax only):
//
//   old <size>\n
//   <base64 consistency proof hash>\n     (0..63 lines)
//   \n
//   <signed checkpoint note>
//
// The witness's decisions (which keys, which stored size) are in
// libs/tlogd's Witness; this is the wire format both sides share.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pmos/base/error_or.h"
#include "pmos/tlog/merkle.h"

namespace pmos::tlog {

inline constexpr std::size_t kMaxWitnessProofLines = 63;

struct AddCheckpointRequest {
  std::uint64_t old_size = 0;
  std::vector<Hash> proof;
  std::string checkpoint;  // the signed note, not yet verified
  friend bool operator==(const AddCheckpointRequest&, const AddCheckpointRequest&) = default;
};

// Strict (kDecode, each with its own message): "old" line with a decimal
// without leading zeroes, at most 63 proof lines of canonical base64 of 32
// bytes, the blank line, a non-empty rest of at most kMaxNoteSize bytes.
// The proof's relation to the sizes is the witness's check, not syntax.
ErrorOr<AddCheckpointRequest> parse_add_checkpoint_request(std::string_view body);
// Refuses more than 63 proof hashes and an empty checkpoint.
ErrorOr<std::string> format_add_checkpoint_request(const AddCheckpointRequest& request);

// The body of a 409 answer (text/x.tlog.size): "<size>\n", strict decimal.
std::string format_witness_size(std::uint64_t size);
ErrorOr<std::uint64_t> parse_witness_size(std::string_view body);

}  // namespace pmos::tlog

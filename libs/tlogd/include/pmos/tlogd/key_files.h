#pragma once

// The key files of the log and witness services (docs/log.md), shared by
// `pmos-log serve|witness` and the log and witness roles of pmos-server.
//
//   log.skey      the log's Ed25519 note key, Go note "PRIVATE+KEY+..." text
//   log.vkey      its verifier key, rewritten at every start (public)
//   witness.key   the witness's Ed25519 seed, 32 raw bytes
//   witness.name  the witness's key name (its identity with the key)
//   witness.vkey  its cosignature/v1 verifier key (public)
//
// Keys are created once (mode 0600) and never replaced: a new log key is a
// new log, and a new witness key a new witness.

#include <string>
#include <string_view>
#include <vector>

#include "pmos/base/error_or.h"
#include "pmos/tlog/cosignature.h"
#include "pmos/tlog/note_keys.h"

namespace pmos::tlogd {

struct LogKeyFiles {
  tlog::Ed25519NoteSigner key;
  bool created = false;
};
// DIR/log.skey, created with the name `origin` if missing; writes DIR/log.vkey.
ErrorOr<LogKeyFiles> load_or_create_log_key(const std::string& directory, std::string_view origin);

struct WitnessKeyFiles {
  tlog::CosignatureSigner key;
  bool created = false;
};
// DIR/witness.key and DIR/witness.name, created with `name` if missing;
// writes DIR/witness.vkey.
ErrorOr<WitnessKeyFiles> load_or_create_witness_key(const std::string& directory, std::string_view name);

// Ed25519 log vkeys separated by commas or newlines; "@FILE" reads them
// from a file.
ErrorOr<std::vector<tlog::Ed25519NoteVerifier>> parse_log_vkeys(std::string_view text);

}  // namespace pmos::tlogd

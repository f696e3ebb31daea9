#pragma once

#include "options.h"

namespace pmos::server {

// `pmos-server witness`: the tlog-witness role (docs/log.md): cosigns the
// checkpoints of the logs whose keys it is given, refusing any that are
// inconsistent with what it cosigned before. State in DIR/witness.db (or
// --database). Returns the exit status (0, 1 failure, 2 usage).
int command_witness(const Options& options);
// `pmos-server witness-key`: creates the witness key if missing and prints
// its cosignature/v1 vkey (what logs and verifiers are configured with).
int command_witness_key(const Options& options);

}  // namespace pmos::server

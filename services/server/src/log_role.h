#pragma once

#include "options.h"

namespace pmos::server {

// `pmos-server log`: the transparency log role (issue 7, docs/log.md):
// libs/tlogd's Log on DIR/log.db (or --database), served per tlog-tiles over
// the server's TLS certificate, submitting each checkpoint to the
// configured witnesses. Returns the exit status (0, 1 failure, 2 usage).
int command_log(const Options& options);
// `pmos-server log-key`: creates the log key if missing and prints its vkey
// (what witnesses and verifiers are configured with).
int command_log_key(const Options& options);

}  // namespace pmos::server

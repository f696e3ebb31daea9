#pragma once

#include "options.h"

namespace pmos::server {

// The subcommands of pmos-server (docs/server.md). Each returns the exit
// status: 0 success, 1 failure (with a message on stderr), 2 usage error.
int command_init(const Options& options);
int command_enroll_token(const Options& options);
int command_revoke(const Options& options);
int command_run(const Options& options);

}  // namespace pmos::server

#pragma once

#include <string>
#include <vector>

namespace pmos::cli {

// `pmos log show|verify-inclusion|verify-consistency|monitor ...`: verifies
// a transparency log from outside (docs/log.md), with the same code as
// `pmos-log` (libs/tlogd log_commands.h). `args` follow "log".
int run_log_command(const std::vector<std::string>& args);

}  // namespace pmos::cli

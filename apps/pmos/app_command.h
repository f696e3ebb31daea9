#pragma once

#include <string>
#include <vector>

namespace pmos::cli {

// `pmos app <subcommand> ...`: package, sign, vet, countersign, verify and
// inspect app packages. `args` excludes "pmos app". Returns the exit code:
// 0 success, 1 a refusal or failed check, 2 a usage error.
int run_app_command(const std::vector<std::string>& args);

}  // namespace pmos::cli

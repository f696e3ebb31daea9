#pragma once

#include <string>
#include <vector>

namespace pmos::cli {

// `pmos app install|remove|list|run|logs ...`: talk to pmosd over its control
// socket. `args` starts with the subcommand. Exit code: 0 success, 1 refused
// or failed, 2 usage; `run` exits with the app's exit code.
int run_device_command(const std::vector<std::string>& args);
bool is_device_command(const std::string& name);

// `pmos audit show|verify ...`: read and verify a device's audit log.
int run_audit_command(const std::vector<std::string>& args);

// `pmos sandbox run --manifest M [...] -- CMD ARGS`: run a command in the
// sandbox the manifest would get, with its broker.
int run_sandbox_command(const std::vector<std::string>& args);

}  // namespace pmos::cli

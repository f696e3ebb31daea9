#include "log_command.h"

#include <cstdio>

#include "pmos/tlogd/log_commands.h"

namespace pmos::cli {

int run_log_command(const std::vector<std::string>& args) {
  if (args.empty() || !tlogd::is_log_client_command(args[0])) {
    std::fputs(tlogd::log_client_usage("pmos log").c_str(), stderr);
    return tlogd::kExitUsage;
  }
  return tlogd::run_log_client_command("pmos log", args[0], std::vector<std::string>(args.begin() + 1, args.end()));
}

}  // namespace pmos::cli

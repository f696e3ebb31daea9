// pmos: the PMOS command-line tool. Each subcommand family is in its own file.
#include <cstdio>
#include <string>
#include <vector>

#include "app_command.h"
#ifdef PMOS_WITH_LOG
#include "log_command.h"
#endif
#ifdef PMOS_WITH_DEVICE
#include "device_command.h"
#endif
#ifdef PMOS_WITH_CHAT
#include "chat_command.h"
#endif

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
#ifdef PMOS_WITH_DEVICE
  // pmosd's side of `pmos app`, `pmos audit`, `pmos sandbox` (device_command.h).
  auto rest = [&args] { return std::vector<std::string>(args.begin() + 1, args.end()); };
  if (args.size() >= 2 && args[0] == "app" && pmos::cli::is_device_command(args[1]))
    return pmos::cli::run_device_command(rest());
  if (!args.empty() && args[0] == "audit") return pmos::cli::run_audit_command(rest());
  if (!args.empty() && args[0] == "sandbox") return pmos::cli::run_sandbox_command(rest());
#endif
#ifdef PMOS_WITH_CHAT
  if (!args.empty() && args[0] == "chat")
    return pmos::cli::run_chat_command(std::vector<std::string>(args.begin() + 1, args.end()));
#endif
#ifdef PMOS_WITH_LOG
  if (!args.empty() && args[0] == "log")
    return pmos::cli::run_log_command(std::vector<std::string>(args.begin() + 1, args.end()));
#endif
  if (!args.empty() && args[0] == "app") {
    return pmos::cli::run_app_command(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  std::fputs("usage: pmos app <keygen|pack|sign|rotate|vet|countersign|verify|inspect> ...\n", stderr);
  return 2;
}

// `pmos app install|remove|list|run|logs`: the device side of `pmos app`,
// served by pmosd over its control socket (docs/device.md).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "device_command.h"
#include "pmos/base/unique_fd.h"
#include "pmos/device/control.h"

namespace pmos::cli {
namespace {

constexpr const char* kDefaultSocket = "/run/pmos/pmosd.sock";

constexpr const char* kUsageText =
    "usage: pmos app <command> [--socket PATH] ...   (default $PMOS_SOCKET or /run/pmos/pmosd.sock)\n"
    "  install PKG       install or update a signed, countersigned package\n"
    "  remove  APP_ID    remove an app and its data\n"
    "  list              installed apps\n"
    "  run     APP_ID    run an app in its sandbox; exits with its exit code\n"
    "  logs    APP_ID    what the app wrote to stdout and stderr\n"
    "  stop    APP_ID    kill a running app\n";

int usage(const char* message) {
  std::fprintf(stderr, "pmos app: %s\n%s", message, kUsageText);
  return 2;
}

}  // namespace

bool is_device_command(const std::string& name) {
  return name == "install" || name == "remove" || name == "list" || name == "run" || name == "logs" ||
         name == "stop";
}

int run_device_command(const std::vector<std::string>& args) {
  if (args.empty()) return usage("no command given");
  const std::string& command = args[0];
  std::string socket_path = std::getenv("PMOS_SOCKET") ? std::getenv("PMOS_SOCKET") : kDefaultSocket;
  std::vector<std::string> positional;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--socket") {
      if (i + 1 >= args.size()) return usage("--socket needs a path");
      socket_path = args[++i];
    } else if (args[i].starts_with("--")) {
      return usage("unknown option");
    } else {
      positional.push_back(args[i]);
    }
  }
  device::ControlRequest request;
  UniqueFd package;
  if (command == "install") {
    if (positional.size() != 1) return usage("install needs one package file");
    request.op = device::ControlOp::kInstall;
    package = UniqueFd(::open(positional[0].c_str(), O_RDONLY | O_CLOEXEC));
    if (!package) {
      std::fprintf(stderr, "pmos app: %s: cannot open\n", positional[0].c_str());
      return 1;
    }
  } else if (command == "list") {
    if (!positional.empty()) return usage("list takes no arguments");
    request.op = device::ControlOp::kList;
  } else {
    if (positional.size() != 1) return usage("the command needs one app id");
    request.op = command == "remove" ? device::ControlOp::kRemove
                 : command == "run"  ? device::ControlOp::kRun
                 : command == "stop" ? device::ControlOp::kStop
                                     : device::ControlOp::kLogs;
    request.app_id = positional[0];
  }
  auto response = device::control_call(socket_path, request, package.get());
  if (!response) {
    std::fprintf(stderr, "pmos app: cannot talk to pmosd at %s: %s\n", socket_path.c_str(),
                 response.error().to_string().c_str());
    return 1;
  }
  if (response->status != device::ControlStatus::kOk) {
    std::fprintf(stderr, "pmos app: %s\n", response->text.c_str());
    return 1;
  }
  std::fwrite(response->text.data(), 1, response->text.size(), stdout);
  if (command == "run") return static_cast<int>(response->exit_code & 0xff);
  return 0;
}

}  // namespace pmos::cli

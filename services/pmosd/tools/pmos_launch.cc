// pmos-launch: starts an installed app through pmosd and waits for it, the
// way the phone's shell starts one. The same request as `pmos app run`, from
// a client that loads almost nothing, so that starting it costs little next
// to the launch itself (docs/device.md, "Measuring a launch").
//   pmos-launch [--socket PATH] APP_ID
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "pmos/device/control.h"

int main(int argc, char** argv) {
  const char* from_env = std::getenv("PMOS_SOCKET");
  std::string socket_path = from_env ? from_env : "/run/pmos/pmosd.sock";
  std::string app_id;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--socket" && i + 1 < argc) {
      socket_path = argv[++i];
    } else if (!arg.starts_with("-") && app_id.empty()) {
      app_id = arg;
    } else {
      std::fputs("usage: pmos-launch [--socket PATH] APP_ID   (default $PMOS_SOCKET or /run/pmos/pmosd.sock)\n",
                 stderr);
      return 2;
    }
  }
  if (app_id.empty()) {
    std::fputs("usage: pmos-launch [--socket PATH] APP_ID\n", stderr);
    return 2;
  }
  pmos::device::ControlRequest request;
  request.op = pmos::device::ControlOp::kRun;
  request.app_id = app_id;
  auto response = pmos::device::control_call(socket_path, request);
  if (!response) {
    std::fprintf(stderr, "pmos-launch: cannot talk to pmosd at %s: %s\n", socket_path.c_str(),
                 response.error().to_string().c_str());
    return 1;
  }
  if (response->status != pmos::device::ControlStatus::kOk) {
    std::fprintf(stderr, "pmos-launch: %s\n", response->text.c_str());
    return 1;
  }
  return static_cast<int>(response->exit_code & 0xff);
}

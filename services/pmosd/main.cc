// pmosd: the PMOS device daemon (docs/device.md).
//   pmosd --state DIR --authority AUTH.pub [--authority ...] --standard S.json
//         [--socket PATH] [--best-effort] [--no-prepare]
#include <signal.h>
#include <sys/signalfd.h>

#include <cstdio>
#include <string>
#include <string_view>

#include "daemon.h"

namespace {

void usage() {
  std::fputs(
      "usage: pmosd --state DIR --authority AUTH.pub [--authority ...] --standard STANDARD.json\n"
      "             [--socket PATH] [--best-effort] [--no-prepare]\n"
      "  --state DIR        the device's state: apps, data, logs, audit log, device key\n"
      "  --authority FILE   an authority public key whose countersignatures are accepted (repeatable)\n"
      "  --standard FILE    the app standard installs are vetted against\n"
      "  --socket PATH      the control socket (default STATE/pmosd.sock, mode 0600)\n"
      "  --best-effort      run apps with Landlock, seccomp and cgroup limits only where the kernel\n"
      "                     and our privileges allow (development; the default refuses)\n"
      "  --no-prepare       make each app's sandbox when it is run, not ahead of time\n",
      stderr);
}

}  // namespace

int main(int argc, char** argv) {
  pmos::pmosd::Config config;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--state") {
      config.state_dir = value();
    } else if (arg == "--authority") {
      config.authority_key_files.push_back(value());
    } else if (arg == "--standard") {
      config.standard_file = value();
    } else if (arg == "--socket") {
      config.socket_path = value();
    } else if (arg == "--best-effort") {
      config.policy.landlock = pmos::sandbox::Requirement::kIfAvailable;
      config.policy.seccomp = pmos::sandbox::Requirement::kIfAvailable;
      config.policy.cgroup_limits = pmos::sandbox::Requirement::kIfAvailable;
    } else if (arg == "--no-prepare") {
      config.prepare_launches = false;
    } else {
      usage();
      return 2;
    }
  }
  if (config.state_dir.empty() || config.standard_file.empty() || config.authority_key_files.empty()) {
    usage();
    return 2;
  }
  // Every thread inherits this mask; only the signalfd sees these signals.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  int signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);
  if (signal_fd < 0) {
    std::perror("pmosd: signalfd");
    return 1;
  }
  auto daemon = pmos::pmosd::Daemon::create(config);
  if (!daemon) {
    std::fprintf(stderr, "pmosd: %s\n", daemon.error().to_string().c_str());
    return 1;
  }
  if (auto r = (*daemon)->run(signal_fd); !r) {
    std::fprintf(stderr, "pmosd: %s\n", r.error().to_string().c_str());
    return 1;
  }
  return 0;
}

#pragma once

#include <cstdint>

namespace pmos::sandbox {

// How much a layer of isolation matters to a launch.
enum class Requirement : std::uint8_t {
  kRequired,     // refuse to launch if the kernel cannot deliver it
  kIfAvailable,  // use it when the kernel has it; Sandbox::isolation() says what was used
  kOff,          // do not use it (tests and benchmarks of single layers only)
};

// What isolation a launch demands. The namespaces (user, mount, pid, ipc, uts,
// net, cgroup), no_new_privs and dropping every capability are not negotiable:
// without them there is no sandbox, so a kernel that lacks them makes launch()
// fail. The layers below vary between the kernels PMOS phones ship, so the
// policy says which of them an app may not run without.
//
// A plain value; copy it freely.
struct Policy {
  // Landlock path rules (and on ABI >= 4 TCP rules, on ABI >= 6 signal and
  // abstract-socket scoping). Without it a mount-namespace mistake exposes host files.
  Requirement landlock = Requirement::kRequired;
  // The oldest Landlock ABI accepted when landlock is kRequired: 1 (Linux 5.13)
  // covers files; 3 adds truncate; 4 TCP; 5 device ioctls; 6 signals and abstract sockets.
  int min_landlock_abi = 1;
  // The seccomp-bpf syscall profile (seccomp_profile.h). Without it the whole
  // kernel syscall surface is reachable from the app.
  Requirement seccomp = Requirement::kRequired;
  // cgroup limits on memory and process count. Without them an app can take
  // the phone down with a fork bomb or by eating memory.
  Requirement cgroup_limits = Requirement::kRequired;

  // Everything required: what pmosd uses for every app.
  static constexpr Policy strict() { return Policy{}; }
};

}  // namespace pmos::sandbox

#pragma once

#include <cstdint>
#include <string>

#include "pmos/base/error_or.h"
#include "pmos/sandbox/policy.h"

namespace pmos::sandbox {

// Which cgroup hierarchy carries the memory and pids controllers for us.
enum class CgroupVersion : std::uint8_t {
  kNone,  // no usable hierarchy: not mounted, controllers missing, or not writable
  kV2,    // the unified hierarchy (preferred: CLONE_INTO_CGROUP, memory.oom.group)
  kV1,    // legacy per-controller hierarchies (memory/ and pids/), e.g. older phone kernels
};

// What the running kernel offers the sandbox. A plain value.
struct KernelSupport {
  // A process could create every namespace the sandbox uses (user, mount, pid,
  // ipc, uts, net, cgroup) in one clone3(), as the sandbox itself does.
  bool namespaces = false;
  int namespaces_errno = 0;  // why not, when namespaces is false
  // Landlock ABI version, 0 when Landlock is missing or disabled at boot.
  int landlock_abi = 0;
  // seccomp filter mode (SECCOMP_SET_MODE_FILTER) is available.
  bool seccomp_filter = false;
  // Where limits would go, and whether we may create cgroups there.
  CgroupVersion cgroup = CgroupVersion::kNone;
  // Why cgroup is kNone: a static string, empty when a hierarchy was found.
  const char* cgroup_problem = "";
};

// Asks the kernel. Costs one short-lived clone3() child and a cgroup mkdir and
// rmdir, so call it at start-up or for diagnostics, not per launch (launch()
// checks what it needs itself). Thread-safe.
KernelSupport probe();

// Whether `support` meets `policy`; the error names the first layer missing.
ErrorOr<void> check_policy(const Policy& policy, const KernelSupport& support);

// A few lines for operators ("landlock: ABI 7" ...).
std::string to_string(const KernelSupport& support);

}  // namespace pmos::sandbox

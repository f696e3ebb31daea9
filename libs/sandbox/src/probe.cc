#include "pmos/sandbox/probe.h"

#include <errno.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>

#include "cgroup.h"
#include "landlock.h"

namespace pmos::sandbox {
namespace {

constexpr std::uint64_t kNamespaces = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC |
                                      CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWCGROUP;

const char* to_string(CgroupVersion version) {
  switch (version) {
    case CgroupVersion::kNone: return "none";
    case CgroupVersion::kV2: return "v2";
    case CgroupVersion::kV1: return "v1";
  }
  return "?";
}

}  // namespace

KernelSupport probe() {
  KernelSupport support;

  // The honest test is to do it: distributions switch user namespaces off in
  // several ways (sysctls, AppArmor, max_user_namespaces = 0).
  clone_args args{};
  args.flags = kNamespaces;
  args.exit_signal = SIGCHLD;
  long child = syscall(SYS_clone3, &args, sizeof args);
  if (child == 0) _exit(0);
  if (child < 0) {
    support.namespaces_errno = errno;
  } else {
    int status = 0;
    while (waitpid(static_cast<pid_t>(child), &status, 0) < 0 && errno == EINTR) {
    }
    support.namespaces = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  support.landlock_abi = landlock::abi_version();

  std::uint32_t kill_process = SECCOMP_RET_KILL_PROCESS;
  support.seccomp_filter = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 &&
                           syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &kill_process) == 0;

  auto parent = detail::find_cgroup_parent({});
  if (!parent.has_value()) {
    support.cgroup_problem = parent.error().message();
  } else {
    // Writable means we can create (and remove) a cgroup with limits.
    auto cgroup = detail::Cgroup::create(*parent, "pmos-probe-" + std::to_string(getpid()), 1u << 30, 1024);
    if (cgroup.has_value()) support.cgroup = parent->version;
    else support.cgroup_problem = cgroup.error().message();
  }
  return support;
}

ErrorOr<void> check_policy(const Policy& policy, const KernelSupport& support) {
  if (!support.namespaces)
    return Error::unsupported("sandbox: the kernel cannot create the sandbox's namespaces "
                              "(user namespaces disabled?)");
  int needed = policy.min_landlock_abi < 1 ? 1 : policy.min_landlock_abi;
  if (policy.landlock == Requirement::kRequired && support.landlock_abi < needed)
    return Error::unsupported("sandbox: the policy requires Landlock (at its minimum ABI) and the "
                              "kernel does not offer it");
  if (policy.seccomp == Requirement::kRequired && !support.seccomp_filter)
    return Error::unsupported("sandbox: the policy requires seccomp filters and the kernel has none");
  if (policy.cgroup_limits == Requirement::kRequired && support.cgroup == CgroupVersion::kNone)
    return Error::unsupported("sandbox: the policy requires cgroup limits and no writable cgroup "
                              "hierarchy with memory and pids is available");
  return {};
}

std::string to_string(const KernelSupport& support) {
  std::string text;
  text += "namespaces: ";
  text += support.namespaces ? "yes (user mount pid ipc uts net cgroup)" : "NO";
  if (!support.namespaces && support.namespaces_errno != 0)
    text += " (errno " + std::to_string(support.namespaces_errno) + ")";
  text += "\nlandlock: ";
  text += support.landlock_abi > 0 ? "ABI " + std::to_string(support.landlock_abi) : std::string("NO");
  text += "\nseccomp: ";
  text += support.seccomp_filter ? "yes (filter mode, kill-process action)" : "NO";
  text += "\ncgroup limits: ";
  text += to_string(support.cgroup);
  if (support.cgroup == CgroupVersion::kNone) {
    text += " (";
    text += support.cgroup_problem;
    text += ")";
  }
  text += "\n";
  return text;
}

}  // namespace pmos::sandbox

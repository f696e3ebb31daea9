// The app seccomp profile, tested the Chromium way: real system calls in a
// forked child that installed the filter. Allowed calls work, denied calls
// fail with the table's errno, fatal calls kill the child with SIGSYS.

#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "pmos/sandbox/seccomp_profile.h"
#include "../src/seccomp_compile.h"

namespace pmos::sandbox {
namespace {

// Exit codes of the child.
constexpr int kPassed = 0;
constexpr int kWrongResult = 1;
constexpr int kInstallFailed = 2;

// Runs `body` under the app profile in a forked child and returns its wait
// status. The child only makes system calls and leaves with _exit: after fork
// in a test binary (possibly multi-threaded, possibly under ASan) nothing else
// is safe.
int run_under_profile(const std::function<int()>& body) {
  const SeccompProgram& program = app_seccomp_program();
  pid_t pid = fork();
  if (pid == 0) {
    if (!install_seccomp(program).has_value()) _exit(kInstallFailed);
    _exit(body());
  }
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  return status;
}

// A call that must fail with `expected_errno`.
int fails_with(long result, int expected_errno) {
  return result == -1 && errno == expected_errno ? kPassed : kWrongResult;
}

::testing::AssertionResult passed(int status) {
  if (WIFEXITED(status) && WEXITSTATUS(status) == kPassed) return ::testing::AssertionSuccess();
  if (WIFSIGNALED(status)) return ::testing::AssertionFailure() << "killed by signal " << WTERMSIG(status);
  return ::testing::AssertionFailure() << "child exit " << WEXITSTATUS(status);
}

::testing::AssertionResult killed_by_seccomp(int status) {
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) return ::testing::AssertionSuccess();
  if (WIFSIGNALED(status)) return ::testing::AssertionFailure() << "killed by signal " << WTERMSIG(status);
  return ::testing::AssertionFailure() << "survived, exit " << WEXITSTATUS(status);
}

TEST(SeccompProfile, EmbeddedProgramIsTheTableCompiled) {
  // The build generates the embedded program from the table; a stale or
  // hand-edited one would be a filter nobody reviewed.
  auto fresh = compile_seccomp_profile(app_profile());
  ASSERT_TRUE(fresh.has_value()) << fresh.error().to_string();
  auto embedded = app_seccomp_program().code();
  ASSERT_EQ(fresh->size(), embedded.size());
  EXPECT_EQ(std::memcmp(fresh->data(), embedded.data(), embedded.size_bytes()), 0);
}

TEST(SeccompProfile, EveryRuleSaysWhy) {
  for (const SyscallRule& rule : app_profile()) {
    EXPECT_NE(rule.reason, nullptr) << rule.name;
    EXPECT_GT(std::strlen(rule.reason), 3u) << rule.name;
  }
}

TEST(SeccompProfile, DangerousFamiliesAreNeverAllowed) {
  const std::set<std::string> never = {
      "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
      "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
      "unshare", "setns", "clone3", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
      "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
      "userfaultfd", "io_uring_setup", "acct", "swapon", "reboot", "settimeofday",
      "open_by_handle_at"};
  for (const SyscallRule& rule : app_profile()) {
    if (never.count(rule.name)) {
      EXPECT_NE(rule.verdict, Verdict::kAllow) << rule.name;
    }
  }
}

TEST(SeccompProfile, EverydayCallsWork) {
  EXPECT_TRUE(passed(run_under_profile([] {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return kWrongResult;
    if (write(fds[1], "x", 1) != 1) return kWrongResult;
    char byte;
    if (read(fds[0], &byte, 1) != 1) return kWrongResult;
    if (syscall(SYS_getpid) <= 0) return kWrongResult;
    int unix_socket = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int udp6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (unix_socket < 0 || tcp < 0 || udp6 < 0) return kWrongResult;
    // A process and its exit, through the raw clone glibc's fork uses.
    long child = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (child == 0) syscall(SYS_exit_group, 0);
    if (child < 0 || waitpid(static_cast<pid_t>(child), nullptr, 0) != child) return kWrongResult;
    // Querying the execution domain is allowed; changing it is not (below).
    if (personality(0xffffffff) < 0) return kWrongResult;
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int available = 0;
    if (ioctl(unix_socket, FIONREAD, &available) != 0 && errno != EINVAL) return kWrongResult;
    return null >= 0 ? kPassed : kWrongResult;
  })));
}

TEST(SeccompProfile, RecoverableDenialsReturnEperm) {
  EXPECT_TRUE(passed(run_under_profile([] { return fails_with(ptrace(PTRACE_TRACEME, 0, nullptr, nullptr), EPERM); })));
  EXPECT_TRUE(passed(run_under_profile([] { return fails_with(unshare(CLONE_NEWUSER), EPERM); })));
  EXPECT_TRUE(passed(run_under_profile([] { return fails_with(setns(0, 0), EPERM); })));
  EXPECT_TRUE(passed(run_under_profile([] {
    return fails_with(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0), EPERM);
  })));
  EXPECT_TRUE(passed(run_under_profile([] {
    return fails_with(syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0), EPERM);
  })));
  EXPECT_TRUE(passed(run_under_profile([] {
    return fails_with(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0), EPERM);
  })));
  EXPECT_TRUE(passed(run_under_profile([] { return fails_with(syscall(SYS_bpf, 0, nullptr, 0), EPERM); })));
  EXPECT_TRUE(passed(run_under_profile([] {
    return fails_with(syscall(SYS_perf_event_open, nullptr, 0, -1, -1, 0), EPERM);
  })));
  EXPECT_TRUE(passed(run_under_profile([] { return fails_with(socket(AF_PACKET, SOCK_RAW, 0), EPERM); })));
  EXPECT_TRUE(passed(run_under_profile([] { return fails_with(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), EPERM); })));
  EXPECT_TRUE(passed(run_under_profile([] {
    return fails_with(socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6), EPERM);
  })));
  // Families outside the allow list, e.g. Bluetooth and netlink other than route.
  EXPECT_TRUE(passed(run_under_profile([] { return fails_with(socket(31 /* AF_BLUETOOTH */, SOCK_STREAM, 0), EPERM); })));
  EXPECT_TRUE(passed(run_under_profile([] { return fails_with(socket(AF_NETLINK, SOCK_RAW, 9 /* AUDIT */), EPERM); })));
  EXPECT_TRUE(passed(run_under_profile([] { return fails_with(syscall(SYS_userfaultfd, 0), EPERM); })));
}

TEST(SeccompProfile, TerminalInjectionIsDenied) {
  // The specific denial must win over the broad ioctl allow that follows it,
  // including when the high half of the argument is garbage the kernel ignores.
  EXPECT_TRUE(passed(run_under_profile([] {
    char c = 'x';
    return fails_with(syscall(SYS_ioctl, 0, TIOCSTI, &c), EPERM);
  })));
  EXPECT_TRUE(passed(run_under_profile([] {
    char c = 'x';
    return fails_with(syscall(SYS_ioctl, 0, 0xdead00000000ul | TIOCSTI, &c), EPERM);
  })));
}

TEST(SeccompProfile, UnknownAndBypassingCallsReturnEnosys) {
  // clone3 hides its flags in memory; io_uring runs operations no filter sees.
  EXPECT_TRUE(passed(run_under_profile([] { return fails_with(syscall(SYS_clone3, nullptr, 0), ENOSYS); })));
  EXPECT_TRUE(passed(run_under_profile([] { return fails_with(syscall(SYS_io_uring_setup, 1, nullptr), ENOSYS); })));
  // Changing the execution domain (NX and ASLR off for the next program).
  EXPECT_TRUE(passed(run_under_profile([] { return fails_with(personality(READ_IMPLIES_EXEC), ENOSYS); })));
  // A call the table does not list (set_mempolicy_home_node, Linux 6.0).
  EXPECT_TRUE(passed(run_under_profile([] { return fails_with(syscall(450, 0, 0, 0, 0), ENOSYS); })));
}

TEST(SeccompProfile, EscapeCallsKill) {
  EXPECT_TRUE(killed_by_seccomp(run_under_profile([] {
    mount("none", "/", "tmpfs", 0, nullptr);
    return kWrongResult;
  })));
  EXPECT_TRUE(killed_by_seccomp(run_under_profile([] {
    syscall(SYS_pivot_root, "/", "/");
    return kWrongResult;
  })));
  EXPECT_TRUE(killed_by_seccomp(run_under_profile([] {
    syscall(SYS_open_by_handle_at, -1, nullptr, 0);
    return kWrongResult;
  })));
  EXPECT_TRUE(killed_by_seccomp(run_under_profile([] {
    syscall(SYS_kexec_load, 0, 0, nullptr, 0);
    return kWrongResult;
  })));
  EXPECT_TRUE(killed_by_seccomp(run_under_profile([] {
    syscall(SYS_init_module, nullptr, 0, "");
    return kWrongResult;
  })));
  EXPECT_TRUE(killed_by_seccomp(run_under_profile([] {
    syscall(SYS_reboot, 0, 0, 0, nullptr);
    return kWrongResult;
  })));
}

#if defined(__x86_64__)
TEST(SeccompProfile, OtherSyscallAbisKill) {
  // x32 numbers (bit 30) would otherwise reach calls under numbers the table never saw.
  EXPECT_TRUE(killed_by_seccomp(run_under_profile([] {
    syscall(0x40000000 | SYS_getpid);
    return kWrongResult;
  })));
}
#endif

}  // namespace
}  // namespace pmos::sandbox

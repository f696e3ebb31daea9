// Escape attempts run inside a real sandbox, each of which must fail, and the
// things an app must be able to do. The attempts are made by escape_probe
// (copied into the package, so it runs from /app like an app would); each
// attempt that the host itself allows is also run outside the sandbox as a
// control, so a probe that cannot detect success would fail the test.

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "pmos/sandbox/probe.h"
#include "pmos/sandbox/sandbox.h"

namespace pmos::sandbox {
namespace {

namespace fs = std::filesystem;

// On CI a missing kernel feature is a failure; on a developer's machine a skip.
bool on_ci() {
  const char* ci = std::getenv("CI");
  return ci && *ci && std::strcmp(ci, "false") != 0 && std::strcmp(ci, "0") != 0;
}

#define PMOS_REQUIRE_KERNEL(condition, why)                   \
  do {                                                        \
    if (!(condition)) {                                       \
      if (on_ci()) FAIL() << "kernel lacks " << why << " (CI=true)"; \
      GTEST_SKIP() << "kernel lacks " << why;                 \
    }                                                         \
  } while (0)

// The app's host uid when the tests run as root: an unused uid, as pmosd
// would allocate per app.
constexpr uid_t kTestAppUid = 61234;

std::string describe(const ExitStatus& status) {
  return status.kind == ExitStatus::Kind::kExited ? "exit " + std::to_string(status.code)
                                                  : "signal " + std::to_string(status.code);
}

// Blocked: the probe saw an error (exit 0) or seccomp killed it (SIGSYS).
::testing::AssertionResult blocked(const ExitStatus& status) {
  if (status.exited_with(0) || status.killed_by(SIGSYS)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "attempt was not blocked: " << describe(status);
}

class SandboxTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { support_ = std::make_unique<KernelSupport>(probe()); }

  void SetUp() override {
    PMOS_REQUIRE_KERNEL(support_->namespaces, "user/mount/pid/net namespaces");
    PMOS_REQUIRE_KERNEL(support_->landlock_abi > 0, "Landlock");
    PMOS_REQUIRE_KERNEL(support_->seccomp_filter, "seccomp filters");
    PMOS_REQUIRE_KERNEL(support_->cgroup != CgroupVersion::kNone,
                        std::string("writable cgroups: ") + support_->cgroup_problem);

    char pattern[] = "/tmp/pmos-sandbox-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    root_ = pattern;
    // The app's uid has to walk to its directories, as under /var/lib/pmos.
    fs::permissions(root_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
    package_ = root_ / "package";
    data_ = root_ / "data";
    other_data_ = root_ / "other-app-data";
    fs::create_directory(package_);
    fs::create_directory(data_);
    fs::create_directory(other_data_);
    fs::copy_file(PMOS_ESCAPE_PROBE, package_ / "escape_probe");
    write_file(package_ / "hello.txt", "hello from the package");
    write_file(other_data_ / "secret.txt", "another app's secret");
    write_file(root_ / "host-secret.txt", "a host file");
    host_uid_ = geteuid() == 0 ? kTestAppUid : geteuid();
    if (geteuid() == 0) {
      ASSERT_EQ(chown(data_.c_str(), host_uid_, host_uid_), 0);
    }
  }

  void TearDown() override {
    if (!root_.empty()) fs::remove_all(root_);
  }

  static void write_file(const fs::path& path, const std::string& text) {
    std::ofstream(path) << text;
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                              fs::perms::others_read);
  }

  SandboxSpec spec(std::vector<std::string> args) {
    SandboxSpec s;
    s.app_id = "test.escape";
    s.package_dir = package_;
    s.data_dir = data_;
    s.argv = {"/app/escape_probe"};
    s.argv.insert(s.argv.end(), args.begin(), args.end());
    // LeakSanitizer stops the world with ptrace, which the sandbox forbids.
    s.env = {"PATH=/usr/bin:/bin", "ASAN_OPTIONS=detect_leaks=0"};
    s.stdio[2] = UniqueFd(dup(2));  // the probe's diagnostics in the test log
    s.memory_limit_bytes = 128ull << 20;
    s.pids_limit = 32;
    if (geteuid() == 0) s.host_uid = host_uid_;
    return s;
  }

  // Through pool_ when a test set one (PooledSandboxTest), prepared and then
  // started (PreparedSandboxTest), else the ordinary launch.
  ErrorOr<std::unique_ptr<Sandbox>> launch(const SandboxSpec& s) {
    if (pool_) return pool_->launch(s);
    if (!prepared_) return Sandbox::launch(s);
    auto box = Sandbox::prepare(s);
    if (!box.has_value()) return box.error();
    if (auto started = (*box)->start(); !started.has_value()) return started.error();
    return box;
  }

  ExitStatus run(const SandboxSpec& s) {
    auto sandbox = launch(s);
    EXPECT_TRUE(sandbox.has_value()) << (sandbox.has_value() ? "" : sandbox.error().to_string());
    if (!sandbox.has_value()) return {ExitStatus::Kind::kExited, 99};
    // The app's status first, then the whole tree: the same answer.
    auto status = (*sandbox)->wait_app();
    EXPECT_TRUE(status.has_value());
    EXPECT_FALSE((*sandbox)->finished());
    auto at_the_end = (*sandbox)->wait();
    EXPECT_TRUE(at_the_end.has_value());
    EXPECT_TRUE((*sandbox)->finished());
    if (!status.has_value() || !at_the_end.has_value()) return {ExitStatus::Kind::kExited, 99};
    EXPECT_EQ(status->kind, at_the_end->kind);
    EXPECT_EQ(status->code, at_the_end->code);
    EXPECT_EQ(status->memory_limit_hit, at_the_end->memory_limit_hit);
    return *status;
  }

  ExitStatus run_inside(std::vector<std::string> args) { return run(spec(std::move(args))); }

  // The app gets the descriptor it is passed, as fd 3, and not one the
  // launcher leaks without O_CLOEXEC.
  void expect_only_the_passed_descriptor() {
    int leaked = open("/dev/null", O_RDONLY);
    ASSERT_GE(leaked, 0);
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    SandboxSpec s = spec({"check_fds", "3", "through fd 3"});
    s.fds.emplace_back(fds[1]);
    ExitStatus status = run(s);
    s.fds.clear();
    close(leaked);
    EXPECT_TRUE(status.exited_with(0)) << describe(status);
    char buffer[64] = {};
    EXPECT_EQ(read(fds[0], buffer, sizeof buffer - 1), 12);
    EXPECT_STREQ(buffer, "through fd 3");
    close(fds[0]);
  }

  // The control: the same probe, same arguments, no sandbox.
  ExitStatus run_outside(std::vector<std::string> args) {
    std::string program = (package_ / "escape_probe").string();
    std::vector<char*> argv{program.data()};
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    char asan[] = "ASAN_OPTIONS=detect_leaks=0";
    char* envp[] = {asan, nullptr};
    pid_t pid;
    EXPECT_EQ(posix_spawn(&pid, program.c_str(), nullptr, nullptr, argv.data(), envp), 0);
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) return {ExitStatus::Kind::kSignaled, WTERMSIG(status)};
    return {ExitStatus::Kind::kExited, WEXITSTATUS(status)};
  }

  // The cgroup v1 path of `pid` in the hierarchy that has `controller`.
  static std::string cgroup_of(pid_t pid, const std::string& controller) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
    std::string line;
    while (std::getline(in, line)) {
      std::size_t first = line.find(':');
      std::size_t second = line.find(':', first + 1);
      if (line.substr(first + 1, second - first - 1) == controller) return line.substr(second + 1);
    }
    return {};
  }

  // Where the v1 hierarchy with `controller` is mounted here.
  static std::string mountpoint_of(const std::string& controller) {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
      std::size_t dash = line.find(" - cgroup ");
      if (dash == std::string::npos) continue;
      std::string options = "," + line.substr(line.rfind(' ') + 1) + ",";
      if (options.find("," + controller + ",") == std::string::npos) continue;
      std::istringstream fields(line);
      std::string id, parent, device, root, mountpoint;
      fields >> id >> parent >> device >> root >> mountpoint;
      return mountpoint;
    }
    return {};
  }

  static std::unique_ptr<KernelSupport> support_;
  fs::path root_, package_, data_, other_data_;
  uid_t host_uid_ = 0;
  LaunchPool* pool_ = nullptr;
  bool prepared_ = false;
};

std::unique_ptr<KernelSupport> SandboxTest::support_;

// --- What the app can do.

TEST_F(SandboxTest, AppIsConfined) {
  auto sandbox = Sandbox::launch(spec({"check_confined"}));
  ASSERT_TRUE(sandbox.has_value()) << sandbox.error().to_string();
  // A strict policy got every layer the kernel has.
  EXPECT_EQ((*sandbox)->isolation().landlock_abi, support_->landlock_abi);
  EXPECT_TRUE((*sandbox)->isolation().seccomp);
  EXPECT_EQ((*sandbox)->isolation().cgroup, support_->cgroup);
  auto status = (*sandbox)->wait();
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited_with(0)) << describe(*status);
}

TEST_F(SandboxTest, AppWritesItsDataAndTmp) {
  EXPECT_TRUE(run_inside({"check_writable"}).exited_with(0));
  // /data is the host data directory: the write is there for the next launch.
  std::ifstream written(data_ / "probe-file");
  std::string text;
  written >> text;
  EXPECT_EQ(text, "hello");
}

TEST_F(SandboxTest, AppReadsItsPackage) {
  EXPECT_TRUE(run_inside({"check_readable", "/app/hello.txt", "hello from the package"}).exited_with(0));
}

TEST_F(SandboxTest, AppGetsExactlyThePassedDescriptor) { expect_only_the_passed_descriptor(); }

TEST_F(SandboxTest, LoopbackIsUp) {
  EXPECT_TRUE(run_inside({"check_loopback"}).exited_with(0));
}

TEST_F(SandboxTest, ExitCodesAndSignalsAreForwarded) {
  SandboxSpec s = spec({});
  s.argv = {"/bin/sh", "-c", "exit 7"};
  EXPECT_TRUE(run(s).exited_with(7));
  s.argv = {"/bin/sh", "-c", "kill -TERM $$"};
  EXPECT_TRUE(run(s).killed_by(SIGTERM));
}

TEST_F(SandboxTest, KillTakesTheWholeTree) {
  SandboxSpec s = spec({});
  s.argv = {"/bin/sh", "-c", "sleep 60 & sleep 60"};
  auto sandbox = Sandbox::launch(s);
  ASSERT_TRUE(sandbox.has_value()) << sandbox.error().to_string();
  ASSERT_TRUE((*sandbox)->kill().has_value());
  auto status = (*sandbox)->wait();
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->killed_by(SIGKILL)) << describe(*status);
}

// The app's status is known once the app has exited, before the rest of the
// tree is gone: the sandbox is not finished (its reaper not reaped, its cgroup
// still there) until wait(), which takes the process the app left behind.
TEST_F(SandboxTest, AppStatusArrivesBeforeTheTreeIsGone) {
  SandboxSpec s = spec({});
  // The app leaves a child behind and exits a second later: time to read
  // the reaper's cgroup while it lives (an exiting task shows the root).
  s.argv = {"/bin/sh", "-c", "/bin/sleep 60 & /bin/sleep 1; exit 3"};
  auto sandbox = Sandbox::launch(s);
  ASSERT_TRUE(sandbox.has_value()) << sandbox.error().to_string();
  Sandbox& box = **sandbox;
  std::string pids_dir;
  if (support_->cgroup == CgroupVersion::kV1) {
    std::string own = cgroup_of(box.pid(), "pids");
    ASSERT_NE(own.find("/pmos-"), std::string::npos) << own;
    pids_dir = mountpoint_of("pids") + own;
  }
  auto status = box.wait_app();
  ASSERT_TRUE(status.has_value()) << status.error().to_string();
  EXPECT_TRUE(status->exited_with(3)) << describe(*status);
  EXPECT_FALSE(box.finished());
  EXPECT_EQ(::kill(box.pid(), 0), 0) << "the reaper was reaped by wait_app()";
  if (!pids_dir.empty()) {
    EXPECT_TRUE(fs::exists(pids_dir)) << "the cgroup went before the tree";
  }
  EXPECT_TRUE(box.kill().has_value());  // still allowed; the tree is going anyway
  auto whole = box.wait();
  ASSERT_TRUE(whole.has_value()) << whole.error().to_string();
  EXPECT_TRUE(whole->exited_with(3)) << describe(*whole);
  EXPECT_TRUE(box.finished());
  EXPECT_NE(::kill(box.pid(), 0), 0);
  if (!pids_dir.empty()) {
    EXPECT_FALSE(fs::exists(pids_dir));
  }
  EXPECT_TRUE(box.kill().has_value());  // a reaped sandbox: nothing to do
}

// A reaper killed from outside (or by the OOM killer) writes no status: its
// own is the app's, and wait_app() still returns. (From outside its pid
// namespace only SIGKILL and SIGSTOP reach it: it installs no handlers.)
TEST_F(SandboxTest, AReaperKilledFromOutsideStillReports) {
  SandboxSpec s = spec({});
  s.argv = {"/bin/sleep", "60"};
  auto sandbox = Sandbox::launch(s);
  ASSERT_TRUE(sandbox.has_value()) << sandbox.error().to_string();
  ASSERT_EQ(::kill((*sandbox)->pid(), SIGKILL), 0);
  auto status = (*sandbox)->wait_app();
  ASSERT_TRUE(status.has_value()) << status.error().to_string();
  EXPECT_TRUE(status->killed_by(SIGKILL)) << describe(*status);
  // Without a report there is nothing to return early: the tree is gone.
  EXPECT_TRUE((*sandbox)->finished());
}

// --- Escape attempts.

TEST_F(SandboxTest, CannotPtraceAHostProcess) {
  EXPECT_TRUE(blocked(run_inside({"ptrace", std::to_string(getpid())})));
}

TEST_F(SandboxTest, CannotMount) { EXPECT_TRUE(blocked(run_inside({"mount"}))); }

TEST_F(SandboxTest, CannotCreateNamespaces) { EXPECT_TRUE(blocked(run_inside({"unshare"}))); }

TEST_F(SandboxTest, CannotSetns) { EXPECT_TRUE(blocked(run_inside({"setns"}))); }

TEST_F(SandboxTest, CannotUseKeyrings) {
  EXPECT_TRUE(blocked(run_inside({"keyctl"})));
  EXPECT_TRUE(run_outside({"keyctl"}).exited_with(1));  // control: the host has a keyring
}

TEST_F(SandboxTest, CannotUseBpf) { EXPECT_TRUE(blocked(run_inside({"bpf"}))); }

TEST_F(SandboxTest, CannotOpenRawOrPacketSockets) {
  EXPECT_TRUE(blocked(run_inside({"raw_socket"})));
  if (geteuid() == 0) {
    EXPECT_TRUE(run_outside({"raw_socket"}).exited_with(1));  // control (needs CAP_NET_RAW)
  }
}

TEST_F(SandboxTest, CannotReachTheHostLoopback) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), size), 0);
  ASSERT_EQ(listen(listener, 8), 0);
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size), 0);
  std::string port = std::to_string(ntohs(address.sin_port));
  EXPECT_TRUE(blocked(run_inside({"connect_tcp", port})));
  EXPECT_TRUE(run_outside({"connect_tcp", port}).exited_with(1));  // control: the listener is there
  close(listener);
}

TEST_F(SandboxTest, CannotReachAHostAbstractSocket) {
  static std::atomic<int> counter{0};
  std::string name = "pmos-sandbox-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path + 1, name.data(), name.size());
  socklen_t size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), size), 0);
  ASSERT_EQ(listen(listener, 8), 0);
  EXPECT_TRUE(blocked(run_inside({"abstract_unix", name})));
  EXPECT_TRUE(run_outside({"abstract_unix", name}).exited_with(1));  // control
  close(listener);
}

TEST_F(SandboxTest, CannotReadAnotherAppsData) {
  std::string secret = (other_data_ / "secret.txt").string();
  EXPECT_TRUE(blocked(run_inside({"read", secret})));
  EXPECT_TRUE(run_outside({"read", secret}).exited_with(1));  // control
}

TEST_F(SandboxTest, CannotReadHostFilesOutsideItsPaths) {
  std::string secret = (root_ / "host-secret.txt").string();
  EXPECT_TRUE(blocked(run_inside({"read", secret})));
  EXPECT_TRUE(run_outside({"read", secret}).exited_with(1));  // control
  EXPECT_TRUE(blocked(run_inside({"read", "/etc/shadow"})));
  EXPECT_TRUE(blocked(run_inside({"read", "/root/.profile"})));
}

TEST_F(SandboxTest, LandlockBlocksPathsReachedThroughAPassedDirectory) {
  // The mount namespace cannot stop this: a directory descriptor from outside
  // reaches the host tree directly. Landlock must.
  auto with_dirfd = [&](Requirement landlock) {
    SandboxSpec s = spec({"openat", "3", "host-secret.txt"});
    s.fds.emplace_back(open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    s.policy.landlock = landlock;
    return run(s);
  };
  EXPECT_TRUE(blocked(with_dirfd(Requirement::kRequired)));
  // Control: without Landlock the same attempt works, so the test can fail.
  EXPECT_TRUE(with_dirfd(Requirement::kOff).exited_with(1));
}

TEST_F(SandboxTest, CannotWriteItsPackage) {
  EXPECT_TRUE(blocked(run_inside({"write", "/app/new-file"})));
  EXPECT_TRUE(blocked(run_inside({"write", "/app/hello.txt"})));
  EXPECT_FALSE(fs::exists(package_ / "new-file"));
}

TEST_F(SandboxTest, CannotSignalProcessesOutside) {
  std::string me = std::to_string(getpid());
  EXPECT_TRUE(blocked(run_inside({"kill", me})));
  EXPECT_TRUE(run_outside({"kill", me}).exited_with(1));  // control
}

TEST_F(SandboxTest, ReaperAndAppRunInTheAppCgroup) {
  PMOS_REQUIRE_KERNEL(support_->cgroup == CgroupVersion::kV1, "cgroup v1 (the reaper moves itself in)");
  SandboxSpec s = spec({});
  s.argv = {"/bin/sleep", "60"};
  s.pids_limit = 9;
  auto sandbox = Sandbox::launch(s);
  ASSERT_TRUE(sandbox.has_value()) << sandbox.error().to_string();
  // The reaper moved itself into both hierarchies before the app existed, so
  // the app, its child, is counted there too.
  std::string memory = cgroup_of((*sandbox)->pid(), "memory");
  std::string pids = cgroup_of((*sandbox)->pid(), "pids");
  EXPECT_NE(memory.find("/pmos-"), std::string::npos) << memory;
  EXPECT_NE(pids.find("/pmos-"), std::string::npos) << pids;
  std::string pids_dir = mountpoint_of("pids") + pids;
  std::string value;
  std::ifstream(pids_dir + "/pids.max") >> value;
  EXPECT_EQ(value, "9");
  std::ifstream(pids_dir + "/pids.current") >> value;
  EXPECT_EQ(value, "2");
  ASSERT_TRUE((*sandbox)->kill().has_value());
  ASSERT_TRUE((*sandbox)->wait().has_value());
  // Gone with the app.
  EXPECT_FALSE(fs::exists(pids_dir));
}

TEST_F(SandboxTest, ForkBombStopsAtThePidsLimit) {
  SandboxSpec s = spec({"fork_bomb", "64"});
  s.pids_limit = 16;
  EXPECT_TRUE(blocked(run(s)));
  // Control: with room for them, the same 64 forks succeed.
  s = spec({"fork_bomb", "64"});
  s.pids_limit = 256;
  EXPECT_TRUE(run(s).exited_with(1));
}

TEST_F(SandboxTest, MemoryStopsAtTheLimit) {
  SandboxSpec s = spec({"memory", "192"});
  s.memory_limit_bytes = 64ull << 20;
  ExitStatus status = run(s);
  // Either the kernel refused the memory or the OOM killer took the app.
  EXPECT_TRUE(status.exited_with(0) || (status.killed_by(SIGKILL) && status.memory_limit_hit))
      << describe(status) << " memory_limit_hit=" << status.memory_limit_hit;
  // Control: with a limit above it, the same allocation succeeds.
  s = spec({"memory", "192"});
  s.memory_limit_bytes = 512ull << 20;
  EXPECT_TRUE(run(s).exited_with(1));
}

// --- Refusals.

TEST_F(SandboxTest, RefusesWhenThePolicyDemandsMoreThanTheKernelHas) {
  SandboxSpec s = spec({"check_confined"});
  s.policy.min_landlock_abi = 1000;
  auto sandbox = Sandbox::launch(s);
  ASSERT_FALSE(sandbox.has_value());
  EXPECT_EQ(sandbox.error().category(), ErrorCategory::kUnsupported);
}

TEST_F(SandboxTest, RefusesHostRoot) {
  SandboxSpec s = spec({"check_confined"});
  s.host_uid = 0;
  auto sandbox = Sandbox::launch(s);
  ASSERT_FALSE(sandbox.has_value());
  EXPECT_EQ(sandbox.error().category(), ErrorCategory::kInvalidArgument);
}

TEST_F(SandboxTest, RefusesExtraPathsThatWouldShadowTheSandbox) {
  SandboxSpec s = spec({"check_confined"});
  s.extra_ro_paths = {"/tmp/anything"};
  EXPECT_FALSE(Sandbox::launch(s).has_value());
  s.extra_ro_paths = {"/usr/../etc"};
  EXPECT_FALSE(Sandbox::launch(s).has_value());
}

TEST_F(SandboxTest, ReportsAFailedExec) {
  SandboxSpec s = spec({});
  s.argv = {"/app/no-such-program"};
  auto sandbox = Sandbox::launch(s);
  ASSERT_FALSE(sandbox.has_value());
  EXPECT_EQ(sandbox.error().errno_code(), ENOENT);
  EXPECT_NE(std::string(sandbox.error().message()).find("executing"), std::string::npos);
  // /data is noexec and Landlock grants no execution there: a downloaded binary cannot run.
  fs::copy_file(package_ / "escape_probe", data_ / "downloaded");
  s.argv = {"/data/downloaded", "check_confined"};
  sandbox = Sandbox::launch(s);
  ASSERT_FALSE(sandbox.has_value());
  EXPECT_EQ(sandbox.error().errno_code(), EACCES);
}

// An unprivileged launcher: no cgroups to write, so a strict policy is refused
// with a clear error and a best-effort one runs with everything else.
TEST_F(SandboxTest, WorksForAnUnprivilegedLauncher) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to nobody";
  auto spawn = [](std::vector<const char*> argv) {
    argv.push_back(nullptr);
    pid_t pid;
    char* envp[] = {nullptr};
    EXPECT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, const_cast<char**>(argv.data()), envp), 0);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  };
  auto run_as_nobody_probe = [&] {
    return spawn({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/test",
                  "-x", PMOS_SANDBOX_RUN});
  };
  auto run_as_nobody = [](std::vector<const char*> extra) {
    std::vector<const char*> argv = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                     "--clear-groups", PMOS_SANDBOX_RUN};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(nullptr);
    pid_t pid;
    char* envp[] = {nullptr};
    EXPECT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, const_cast<char**>(argv.data()), envp), 0);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  };
  // The build tree must be reachable for nobody (it is under /work; a CI
  // checkout under /root would not be).
  if (run_as_nobody_probe() != 0) GTEST_SKIP() << PMOS_SANDBOX_RUN << " is not executable for nobody";
  EXPECT_EQ(run_as_nobody({"--best-effort", "--", "/bin/sh", "-c",
                           "test $(id -u) = 1000 && grep -q 'NoNewPrivs:.*1' /proc/self/status"}),
            0);
  EXPECT_EQ(run_as_nobody({"--", "/bin/true"}), 125);  // strict: cgroups not writable -> refused
}

}  // namespace

// --- Launches through a LaunchPool (stubs parked in pre-made cgroup v1 cgroups).

class PooledSandboxTest : public SandboxTest {
 protected:
  void SetUp() override {
    SandboxTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    PMOS_REQUIRE_KERNEL(support_->cgroup == CgroupVersion::kV1, "cgroup v1 (the launch pool is for v1)");
    auto made = LaunchPool::create(2);
    ASSERT_TRUE(made.has_value()) << made.error().to_string();
    owned_pool_ = std::move(*made);
    ASSERT_TRUE(owned_pool_->wait_until_full(std::chrono::seconds(30)));
    pool_ = owned_pool_.get();
  }
  void TearDown() override {
    pool_ = nullptr;
    owned_pool_.reset();
    SandboxTest::TearDown();
  }

  std::unique_ptr<LaunchPool> owned_pool_;
};

TEST_F(PooledSandboxTest, AppRunsConfinedInAPreparedCgroup) {
  SandboxSpec s = spec({});
  s.argv = {"/bin/sleep", "60"};
  s.memory_limit_bytes = 96ull << 20;
  s.pids_limit = 7;
  auto sandbox = pool_->launch(s);
  ASSERT_TRUE(sandbox.has_value()) << sandbox.error().to_string();
  EXPECT_EQ((*sandbox)->isolation().cgroup, CgroupVersion::kV1);
  EXPECT_EQ((*sandbox)->isolation().landlock_abi, support_->landlock_abi);
  EXPECT_TRUE((*sandbox)->isolation().seccomp);
  // The reaper was born in the stub's cgroup, which now carries this app's limits.
  std::string memory = cgroup_of((*sandbox)->pid(), "memory");
  std::string pids = cgroup_of((*sandbox)->pid(), "pids");
  EXPECT_NE(memory.find("/pmos-pool-"), std::string::npos) << memory;
  EXPECT_NE(pids.find("/pmos-pool-"), std::string::npos) << pids;
  std::string pids_dir = mountpoint_of("pids") + pids;
  std::ifstream limit(pids_dir + "/pids.max");
  std::string value;
  limit >> value;
  EXPECT_EQ(value, "7");
  // The stub is gone: only the reaper and the app are in the cgroup.
  std::ifstream current(pids_dir + "/pids.current");
  current >> value;
  EXPECT_EQ(value, "2");
  ASSERT_TRUE((*sandbox)->kill().has_value());
  auto status = (*sandbox)->wait();
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->killed_by(SIGKILL)) << describe(*status);
  // The pool refills in the background.
  EXPECT_TRUE(pool_->wait_until_full(std::chrono::seconds(30)));
}

TEST_F(PooledSandboxTest, AppIsConfinedAndGetsItsDescriptors) {
  EXPECT_TRUE(run_inside({"check_confined"}).exited_with(0));
  EXPECT_TRUE(run_inside({"check_writable"}).exited_with(0));
  EXPECT_TRUE(run_inside({"check_loopback"}).exited_with(0));
  expect_only_the_passed_descriptor();
}

TEST_F(PooledSandboxTest, EscapeAttemptsFail) {
  EXPECT_TRUE(blocked(run_inside({"ptrace", std::to_string(getpid())})));
  EXPECT_TRUE(blocked(run_inside({"mount"})));
  EXPECT_TRUE(blocked(run_inside({"unshare"})));
  EXPECT_TRUE(blocked(run_inside({"setns"})));
  EXPECT_TRUE(blocked(run_inside({"keyctl"})));
  EXPECT_TRUE(blocked(run_inside({"bpf"})));
  EXPECT_TRUE(blocked(run_inside({"raw_socket"})));
  EXPECT_TRUE(blocked(run_inside({"read", (other_data_ / "secret.txt").string()})));
  EXPECT_TRUE(blocked(run_inside({"read", (root_ / "host-secret.txt").string()})));
  EXPECT_TRUE(blocked(run_inside({"read", "/etc/shadow"})));
  EXPECT_TRUE(blocked(run_inside({"write", "/app/hello.txt"})));
  EXPECT_TRUE(blocked(run_inside({"kill", std::to_string(getpid())})));
}

TEST_F(PooledSandboxTest, ForkBombStopsAtThePidsLimit) {
  SandboxSpec s = spec({"fork_bomb", "64"});
  s.pids_limit = 16;
  EXPECT_TRUE(blocked(run(s)));
  s = spec({"fork_bomb", "64"});
  s.pids_limit = 256;
  EXPECT_TRUE(run(s).exited_with(1));
}

TEST_F(PooledSandboxTest, MemoryStopsAtTheLimit) {
  SandboxSpec s = spec({"memory", "192"});
  s.memory_limit_bytes = 64ull << 20;
  ExitStatus status = run(s);
  EXPECT_TRUE(status.exited_with(0) || (status.killed_by(SIGKILL) && status.memory_limit_hit))
      << describe(status) << " memory_limit_hit=" << status.memory_limit_hit;
  s = spec({"memory", "192"});
  s.memory_limit_bytes = 512ull << 20;
  EXPECT_TRUE(run(s).exited_with(1));
}

TEST_F(PooledSandboxTest, ReportsAFailedExecAndRefusals) {
  SandboxSpec s = spec({});
  s.argv = {"/app/no-such-program"};
  auto sandbox = pool_->launch(s);
  ASSERT_FALSE(sandbox.has_value());
  EXPECT_EQ(sandbox.error().errno_code(), ENOENT);
  EXPECT_NE(std::string(sandbox.error().message()).find("executing"), std::string::npos);
  s = spec({"check_confined"});
  s.policy.min_landlock_abi = 1000;
  sandbox = pool_->launch(s);
  ASSERT_FALSE(sandbox.has_value());
  EXPECT_EQ(sandbox.error().category(), ErrorCategory::kUnsupported);
}

TEST_F(PooledSandboxTest, PreparedThroughThePool) {
  SandboxSpec s = spec({"check_writable"});
  s.pids_limit = 6;
  auto box = pool_->prepare(s);
  ASSERT_TRUE(box.has_value()) << box.error().to_string();
  EXPECT_FALSE((*box)->started());
  std::string pids = cgroup_of((*box)->pid(), "pids");
  EXPECT_NE(pids.find("/pmos-pool-"), std::string::npos) << pids;
  std::string value;
  std::ifstream(mountpoint_of("pids") + pids + "/pids.max") >> value;
  EXPECT_EQ(value, "6");
  EXPECT_FALSE(fs::exists(data_ / "probe-file"));  // parked: the app has not run
  ASSERT_TRUE((*box)->start().has_value());
  auto status = (*box)->wait_app();
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited_with(0)) << describe(*status);
  EXPECT_TRUE(fs::exists(data_ / "probe-file"));
  ASSERT_TRUE((*box)->wait().has_value());
}

TEST_F(PooledSandboxTest, FallsBackWhenNoStubIsReady) {
  auto empty = LaunchPool::create(0);
  ASSERT_TRUE(empty.has_value()) << empty.error().to_string();
  pool_ = empty->get();
  EXPECT_TRUE(run_inside({"check_confined"}).exited_with(0));
  pool_ = owned_pool_.get();
}


// --- Prepared launches: everything done ahead of time, the app forked on start().

class PreparedSandboxTest : public SandboxTest {
 protected:
  void SetUp() override {
    SandboxTest::SetUp();
    prepared_ = true;
  }

  static std::string status_line(pid_t pid, const std::string& key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind(key + ":", 0) == 0) return line.substr(line.find_first_not_of(" \t", key.size() + 1));
    return {};
  }
};

TEST_F(PreparedSandboxTest, AppIsConfinedAndGetsItsDescriptors) {
  EXPECT_TRUE(run_inside({"check_confined"}).exited_with(0));
  EXPECT_TRUE(run_inside({"check_writable"}).exited_with(0));
  EXPECT_TRUE(run_inside({"check_loopback"}).exited_with(0));
  EXPECT_TRUE(blocked(run_inside({"read", (root_ / "host-secret.txt").string()})));
  expect_only_the_passed_descriptor();
}

TEST_F(PreparedSandboxTest, ParkedReaperIsConfinedAndTheAppHasNotRun) {
  SandboxSpec s = spec({"check_writable"});
  s.pids_limit = 5;
  auto box = Sandbox::prepare(s);
  ASSERT_TRUE(box.has_value()) << box.error().to_string();
  EXPECT_FALSE((*box)->started());
  pid_t reaper = (*box)->pid();
  // Confined before anything of the app exists: no capabilities, no_new_privs,
  // a seccomp filter, the app's uid, alone in its cgroup.
  EXPECT_EQ(status_line(reaper, "CapEff"), "0000000000000000");
  EXPECT_EQ(status_line(reaper, "CapBnd"), "0000000000000000");
  EXPECT_EQ(status_line(reaper, "NoNewPrivs"), "1");
  EXPECT_EQ(status_line(reaper, "Seccomp"), "2");
  EXPECT_EQ(status_line(reaper, "Uid").substr(0, std::to_string(host_uid_).size()), std::to_string(host_uid_));
  // The app's process-to-be, forked and waiting to exec: exactly as confined.
  std::string children;
  std::ifstream("/proc/" + std::to_string(reaper) + "/task/" + std::to_string(reaper) + "/children") >> children;
  ASSERT_FALSE(children.empty());
  pid_t waiting = static_cast<pid_t>(std::stoi(children));
  EXPECT_EQ(status_line(waiting, "CapEff"), "0000000000000000");
  EXPECT_EQ(status_line(waiting, "CapBnd"), "0000000000000000");
  EXPECT_EQ(status_line(waiting, "NoNewPrivs"), "1");
  EXPECT_EQ(status_line(waiting, "Seccomp"), "2");
  EXPECT_EQ(status_line(waiting, "Uid").substr(0, std::to_string(host_uid_).size()), std::to_string(host_uid_));
  // It shares the reaper's memory rather than holding a copy, so that its
  // exec has no address space to tear down (child.cc). kcmp needs ptrace
  // rights over both: root's.
  if (geteuid() == 0) {
    EXPECT_EQ(syscall(SYS_kcmp, reaper, waiting, KCMP_VM, 0, 0), 0) << std::strerror(errno);
  }
  if (support_->cgroup == CgroupVersion::kV1) {
    std::string pids_dir = mountpoint_of("pids") + cgroup_of(reaper, "pids");
    EXPECT_EQ(cgroup_of(waiting, "pids"), cgroup_of(reaper, "pids"));
    std::string value;
    std::ifstream(pids_dir + "/pids.current") >> value;
    EXPECT_EQ(value, "2");  // the reaper and the waiting process, nothing else
  }
  EXPECT_FALSE(fs::exists(data_ / "probe-file"));
  EXPECT_FALSE((*box)->wait_app().has_value());  // it would wait forever
  ASSERT_TRUE((*box)->start().has_value());
  EXPECT_TRUE((*box)->started());
  auto status = (*box)->wait();
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited_with(0)) << describe(*status);
  EXPECT_TRUE(fs::exists(data_ / "probe-file"));
  EXPECT_FALSE((*box)->start().has_value());  // once only
}

TEST_F(PreparedSandboxTest, WaitAppForGivesUpWhileTheAppRunsAndReturnsItsStatusAfter) {
  SandboxSpec s = spec({});
  s.argv = {"/bin/sh", "-c", "sleep 0.3; exit 7"};
  auto box = Sandbox::prepare(s);
  ASSERT_TRUE(box.has_value()) << box.error().to_string();
  EXPECT_FALSE((*box)->wait_app_for(std::chrono::milliseconds(1)).has_value());  // not started
  ASSERT_TRUE((*box)->start().has_value());
  auto soon = (*box)->wait_app_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(soon.has_value()) << soon.error().to_string();
  EXPECT_FALSE(soon->has_value());  // still sleeping
  auto later = (*box)->wait_app_for(std::chrono::seconds(10));
  ASSERT_TRUE(later.has_value()) << later.error().to_string();
  ASSERT_TRUE(later->has_value());
  EXPECT_TRUE((*later)->exited_with(7)) << describe(**later);
  auto again = (*box)->wait_app_for(std::chrono::milliseconds(0));
  ASSERT_TRUE(again.has_value() && again->has_value());
  EXPECT_TRUE((*again)->exited_with(7));
  auto status = (*box)->wait();
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->exited_with(7)) << describe(*status);
}

TEST_F(PreparedSandboxTest, WaitAppForSeesAReaperKilledFromOutside) {
  SandboxSpec s = spec({});
  s.argv = {"/bin/sh", "-c", "sleep 30"};
  auto box = Sandbox::prepare(s);
  ASSERT_TRUE(box.has_value()) << box.error().to_string();
  ASSERT_TRUE((*box)->start().has_value());
  ASSERT_EQ(::kill((*box)->pid(), SIGKILL), 0);
  auto status = (*box)->wait_app_for(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value()) << status.error().to_string();
  ASSERT_TRUE(status->has_value());
  EXPECT_TRUE((*status)->killed_by(SIGKILL)) << describe(**status);
  EXPECT_TRUE((*box)->finished());
}

TEST_F(PreparedSandboxTest, DiscardedBeforeStartTheAppNeverRuns) {
  pid_t reaper;
  {
    auto box = Sandbox::prepare(spec({"check_writable"}));
    ASSERT_TRUE(box.has_value()) << box.error().to_string();
    reaper = (*box)->pid();
  }
  EXPECT_NE(kill(reaper, 0), 0);  // reaped
  EXPECT_FALSE(fs::exists(data_ / "probe-file"));
}

TEST_F(PreparedSandboxTest, AnExecFailureIsReportedByStart) {
  SandboxSpec s = spec({});
  s.argv = {"/app/no-such-program"};
  auto box = Sandbox::prepare(s);
  ASSERT_TRUE(box.has_value()) << box.error().to_string();
  auto started = (*box)->start();
  ASSERT_FALSE(started.has_value());
  EXPECT_NE(started.error().to_string().find("executing the app failed"), std::string::npos)
      << started.error().to_string();
}

TEST_F(PreparedSandboxTest, ASetUpFailureIsReportedByPrepare) {
  SandboxSpec s = spec({});
  s.cwd = "/no/such/dir";  // checked only inside, just before the exec
  auto box = Sandbox::prepare(s);
  if (box.has_value()) {
    auto started = (*box)->start();
    ASSERT_FALSE(started.has_value());
    EXPECT_NE(started.error().to_string().find("working directory"), std::string::npos) << started.error().to_string();
  }
  // A step of the set-up itself: a data directory that is not there.
  s = spec({});
  s.data_dir = root_ / "missing-data";
  box = Sandbox::prepare(s);
  ASSERT_FALSE(box.has_value());
}

}  // namespace pmos::sandbox

namespace pmos::sandbox {
namespace {

// --- Recycled sandboxes: one sandbox, many launches of the same app.

class RecycledSandboxTest : public SandboxTest {
 protected:
  // The probe reads its command from stdin (the argv of a recycled sandbox
  // is the same for every launch); stderr goes to the test log.
  static std::array<UniqueFd, 3> stdio_with(const std::string& command) {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
    std::string line = command + "\n";
    EXPECT_EQ(write(fds[1], line.data(), line.size()), static_cast<ssize_t>(line.size()));
    close(fds[1]);
    std::array<UniqueFd, 3> stdio;
    stdio[0] = UniqueFd(fds[0]);
    stdio[2] = UniqueFd(dup(2));
    return stdio;
  }

  std::unique_ptr<Sandbox> prepare(const std::string& first_command) {
    SandboxSpec s = spec({"from_stdin"});
    s.recyclable = true;
    s.stdio = stdio_with(first_command);
    auto box = Sandbox::prepare(s);
    EXPECT_TRUE(box.has_value()) << (box.has_value() ? "" : box.error().to_string());
    if (!box.has_value()) return nullptr;
    EXPECT_TRUE((*box)->recyclable());
    return std::move(*box);
  }

  static ExitStatus start_and_wait(Sandbox& box) {
    auto started = box.start();
    EXPECT_TRUE(started.has_value()) << (started.has_value() ? "" : started.error().to_string());
    auto status = box.wait_app();
    EXPECT_TRUE(status.has_value()) << (status.has_value() ? "" : status.error().to_string());
    return status.has_value() ? *status : ExitStatus{ExitStatus::Kind::kExited, 99};
  }

  static ErrorOr<void> recycle(Sandbox& box, const std::string& command, std::vector<UniqueFd> fds = {}) {
    return box.recycle(stdio_with(command), std::move(fds), std::chrono::seconds(5));
  }

  // The processes in the sandbox's cgroup (pids hierarchy, v1).
  static std::vector<pid_t> cgroup_processes(pid_t reaper) {
    std::ifstream in(mountpoint_of("pids") + cgroup_of(reaper, "pids") + "/cgroup.procs");
    std::vector<pid_t> pids;
    for (pid_t pid; in >> pid;) pids.push_back(pid);
    return pids;
  }
};

TEST_F(RecycledSandboxTest, RunsTheSameAppAgainWithEachLaunchsDescriptors) {
  auto box = prepare("check_confined");
  ASSERT_TRUE(box);
  pid_t reaper = box->pid();
  EXPECT_TRUE(start_and_wait(*box).exited_with(0));
  for (int launch = 1; launch <= 5; ++launch) {
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    std::vector<UniqueFd> passed;
    passed.emplace_back(fds[1]);
    std::string message = "launch-" + std::to_string(launch);
    auto recycled = recycle(*box, "check_fds 3 " + message, std::move(passed));
    ASSERT_TRUE(recycled.has_value()) << recycled.error().to_string();
    EXPECT_FALSE(box->started());
    EXPECT_TRUE(start_and_wait(*box).exited_with(0));
    // The sandbox holds no copy: the app's exit closed the pipe's last writer.
    char buffer[64] = {};
    EXPECT_EQ(read(fds[0], buffer, sizeof buffer - 1), static_cast<ssize_t>(message.size()));
    EXPECT_EQ(std::string(buffer), message);
    EXPECT_EQ(read(fds[0], buffer, sizeof buffer), 0);
    close(fds[0]);
  }
  EXPECT_EQ(box->launches(), 6u);
  EXPECT_EQ(box->pid(), reaper);  // one sandbox throughout
  auto recycled = recycle(*box, "check_writable");
  ASSERT_TRUE(recycled.has_value()) << recycled.error().to_string();
  EXPECT_FALSE(fs::exists(data_ / "probe-file"));  // parked: nothing of the app has run
  auto ended = box->wait();  // a parked recyclable sandbox just ends
  ASSERT_TRUE(ended.has_value());
  EXPECT_TRUE(box->finished());
  EXPECT_NE(kill(reaper, 0), 0);
  EXPECT_FALSE(fs::exists(data_ / "probe-file"));
}

TEST_F(RecycledSandboxTest, LeftoversAreDeadBeforeTheStatusAndTheNextLaunchFindsNothing) {
  auto box = prepare("leave_behind");
  ASSERT_TRUE(box);
  pid_t reaper = box->pid();
  EXPECT_TRUE(start_and_wait(*box).exited_with(0));
  // The status came after the leftover was killed: nothing but the reaper
  // and (perhaps already) the next waiting process, which shares its memory.
  for (pid_t pid : cgroup_processes(reaper)) {
    if (pid == reaper) continue;
    EXPECT_EQ(syscall(SYS_kcmp, reaper, pid, KCMP_VM, 0, 0), 0) << "pid " << pid << " is left over";
  }
  ASSERT_TRUE(fs::exists(data_ / "beat"));
  std::string before, after;
  std::ifstream(data_ / "beat") >> before;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::ifstream(data_ / "beat") >> after;
  EXPECT_EQ(before, after) << "the detached process still runs";
  auto recycled = recycle(*box, "check_clean");
  ASSERT_TRUE(recycled.has_value()) << recycled.error().to_string();
  ExitStatus clean = start_and_wait(*box);
  EXPECT_TRUE(clean.exited_with(0)) << describe(clean);
  // And again: the checks themselves leave nothing.
  ASSERT_TRUE(recycle(*box, "check_clean").has_value());
  EXPECT_TRUE(start_and_wait(*box).exited_with(0));
}

TEST_F(RecycledSandboxTest, TheReaperIsOutOfTheAppsReach) {
  auto box = prepare("poke_reaper");
  ASSERT_TRUE(box);
  pid_t reaper = box->pid();
  // Not dumpable: its /proc files belong to root, not to the app's uid
  // (which owns those of a dumpable process of that uid).
  struct stat mem{};
  ASSERT_EQ(stat(("/proc/" + std::to_string(reaper) + "/mem").c_str(), &mem), 0);
  EXPECT_NE(mem.st_uid, host_uid_);
  ExitStatus poked = start_and_wait(*box);
  EXPECT_TRUE(blocked(poked));
  EXPECT_EQ(kill(reaper, 0), 0);  // alive, and neither stopped nor hung:
  auto recycled = recycle(*box, "check_clean");
  ASSERT_TRUE(recycled.has_value()) << recycled.error().to_string();
  EXPECT_TRUE(start_and_wait(*box).exited_with(0));
  std::string state;
  std::ifstream("/proc/" + std::to_string(reaper) + "/stat") >> state >> state >> state;
  EXPECT_NE(state, "T");
}

TEST_F(RecycledSandboxTest, AReaperTheAppTamperedWithIsNotReused) {
  auto box = prepare("tamper_with_reaper");
  ASSERT_TRUE(box);
  pid_t reaper = box->pid();
  EXPECT_TRUE(start_and_wait(*box).exited_with(0));  // the lowering itself is allowed
  auto recycled = recycle(*box, "check_clean");
  EXPECT_FALSE(recycled.has_value());
  ASSERT_TRUE(box->wait().has_value());
  EXPECT_NE(kill(reaper, 0), 0);
}

TEST_F(RecycledSandboxTest, EachLaunchGetsItsOwnMemoryVerdict) {
  auto box = prepare("memory 192");  // MiB, over the spec's 128
  ASSERT_TRUE(box);
  ExitStatus hog = start_and_wait(*box);
  EXPECT_TRUE(hog.memory_limit_hit) << describe(hog);
  auto recycled = recycle(*box, "check_clean");
  if (!recycled.has_value()) {
    // The OOM killer may pick the reaper: then there is nothing to reuse,
    // which must be said, not hidden.
    EXPECT_NE(recycled.error().to_string().find("reaper"), std::string::npos) << recycled.error().to_string();
    return;
  }
  ExitStatus clean = start_and_wait(*box);
  EXPECT_TRUE(clean.exited_with(0)) << describe(clean);
  EXPECT_FALSE(clean.memory_limit_hit);
}

TEST_F(RecycledSandboxTest, OnlyAPreparedSandboxWhoseAppEndedIsRecycled) {
  SandboxSpec s = spec({"check_clean"});
  s.recyclable = true;
  EXPECT_FALSE(Sandbox::launch(s).has_value());
  auto ordinary = Sandbox::prepare(spec({"check_clean"}));
  ASSERT_TRUE(ordinary.has_value());
  EXPECT_FALSE((*ordinary)->recycle({}, {}, std::chrono::seconds(1)).has_value());
  auto box = prepare("check_clean");
  ASSERT_TRUE(box);
  EXPECT_FALSE(box->recycle({}, {}, std::chrono::seconds(1)).has_value());  // parked, never started
}

}  // namespace
}  // namespace pmos::sandbox

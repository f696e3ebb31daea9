#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pmos/base/error_or.h"
#include "pmos/base/unique_fd.h"
#include "pmos/sandbox/policy.h"
#include "pmos/sandbox/probe.h"

namespace pmos::sandbox {

namespace detail {
class Cgroup;
struct Stub;
}

// What one sandboxed app gets. The view from inside:
//   /usr (and /bin /sbin /lib* as on the host)  read-only, from the host
//   /etc        only a few files (ld.so cache, time zone, TLS roots ...) plus a
//               generated passwd and group naming the app user
//   /app        package_dir, read-only (empty directory if package_dir is empty)
//   /data       data_dir, read-write, noexec (absent if data_dir is empty)
//   /tmp        a private tmpfs, noexec
//   /proc       of the app's own pid namespace
//   /dev        null zero full random urandom tty, fd -> /proc/self/fd, shm -> /tmp
//   extra_ro_paths at their host paths, read-only
// The app runs as uid/gid 1000 ("app") in its own user namespace, which maps to
// host_uid/host_gid. Its descriptors are exactly: 0-2 from stdio (or /dev/null),
// then `fds` in order from 3 up. pmosd passes the broker's UNIX socket as fd 3.
//
// Move-only (it owns the descriptors it passes; they are duplicated into the
// app at launch, so the spec may be destroyed afterwards).
struct SandboxSpec {
  // [a-z0-9._-], 1..64 characters: the hostname inside and part of the cgroup name.
  std::string app_id;
  std::string package_dir;  // absolute host path, or empty
  std::string data_dir;     // absolute host path, or empty
  // argv[0] is the program: an absolute path inside the sandbox, or a name
  // looked up in the PATH of `env` (default /usr/bin:/bin).
  std::vector<std::string> argv;
  // The whole environment, "NAME=value"; nothing is inherited from the launcher.
  std::vector<std::string> env;
  std::vector<std::string> extra_ro_paths;  // absolute host paths
  std::string cwd = "/";                    // inside the sandbox

  std::uint64_t memory_limit_bytes = 256ull << 20;
  std::uint32_t pids_limit = 64;  // processes and threads together

  std::array<UniqueFd, 3> stdio;  // an empty slot gets /dev/null
  std::vector<UniqueFd> fds;      // become 3, 4, ... in the app

  // The host ids the app's uid/gid 1000 map to. Unset: the launcher's own
  // (what an unprivileged launcher can map). A launcher running as root must
  // give one: an app never runs as host uid 0.
  std::optional<uid_t> host_uid;
  std::optional<gid_t> host_gid;  // unset: host_uid if given, else the launcher's gid

  // A cgroup v2 directory to create the app's cgroup under; it must be
  // writable and have no processes of its own. Empty: the launcher's own cgroup.
  std::string cgroup_parent;

  Policy policy = Policy::strict();

  // Sandbox::prepare() only: the sandbox can be reused for further launches
  // of the same app (Sandbox::recycle()). Its reaper then holds none of the
  // app's descriptors (they are sent with start()), is not dumpable, and
  // after each app exit kills everything else in the sandbox before it
  // reports the status, then empties /tmp and the ipc namespace.
  bool recyclable = false;
};

// How the app (the sandbox's main process) ended.
struct ExitStatus {
  enum class Kind : std::uint8_t { kExited, kSignaled };
  Kind kind = Kind::kExited;
  int code = 0;  // exit code, or signal number
  // The memory cgroup killed something in the sandbox because of its limit.
  bool memory_limit_hit = false;

  bool exited_with(int c) const { return kind == Kind::kExited && code == c; }
  bool killed_by(int signal) const { return kind == Kind::kSignaled && code == signal; }
  // The shell convention: code, or 128 + signal.
  int shell_code() const { return kind == Kind::kExited ? code : 128 + code; }
};

// What a running sandbox actually got (relevant with Requirement::kIfAvailable).
struct Isolation {
  int landlock_abi = 0;  // 0: no Landlock
  bool seccomp = false;
  CgroupVersion cgroup = CgroupVersion::kNone;
};

// One sandboxed app process tree: a reaper that is pid 1 of the app's pid
// namespace, and under it the app. The Sandbox owns the tree: destroying it
// kills the tree (if it still runs), reaps it and removes its cgroup.
//
// The app's end and the tree's end are two moments: when the app exits, the
// reaper reports its status and exits, and only then does the kernel kill the
// app's other processes and tear down the namespaces. wait_app() returns at
// the first, wait() at the second; until wait() has returned the sandbox
// still exists (processes, cgroup) and must be treated as running.
//
// launch() may be called from any thread. A Sandbox is not thread-safe; kill()
// may be called while another thread is in wait_app() or wait(). The reaper
// dies with the thread that launched it (PR_SET_PDEATHSIG), so launch from a
// long-lived thread.
class Sandbox {
 public:
  // Starts spec.argv in a new sandbox and returns once the app has been
  // exec'd. Refuses (before starting anything) when the kernel cannot deliver
  // what spec.policy requires, and fails cleanly if any step of the set-up
  // fails: an app never runs with less isolation than its policy demands.
  static ErrorOr<std::unique_ptr<Sandbox>> launch(const SandboxSpec& spec);

  // A launch in two halves, zygote style: prepare() does everything launch()
  // does (cgroup, namespaces, id maps, the mount view, descriptors, dropped
  // privileges, no_new_privs, Landlock, seccomp), forks the app's process and
  // parks it, confined, before its exec; start() lets it exec the app and
  // returns once the app has been exec'd. Between the two nothing of the app
  // runs, and the reaper and the waiting process hold only what the spec gave
  // them. A prepared Sandbox that is destroyed without start() is killed like
  // any other. The reaper dies with the thread that called prepare().
  static ErrorOr<std::unique_ptr<Sandbox>> prepare(const SandboxSpec& spec);
  ErrorOr<void> start();
  bool started() const { return !go_ && !parked_; }

  // Recycling (a prepare() of a spec with `recyclable`): once the app has
  // exited (wait_app() returned its status, which the reaper sends only after
  // it killed every other process of the sandbox), the reaper resets the
  // sandbox (/tmp, System V and POSIX IPC, its own limits and scheduling
  // checked unchanged) and parks the next app process. recycle() waits up to
  // `timeout` for that, then checks from outside that the cgroup holds only
  // the reaper and that one process and that /tmp is empty, and makes the
  // sandbox prepared again: start() execs the same argv, with these
  // descriptors (as SandboxSpec::stdio and ::fds). Every launch gets a new
  // process, its own descriptors and its own memory-limit verdict. A failed
  // recycle() leaves a sandbox to destroy (wait() ends it). For a recyclable
  // sandbox, wait() waits for the app's status, then ends the reaper (which
  // would otherwise wait for the next launch).
  ErrorOr<void> recycle(std::array<UniqueFd, 3> stdio, std::vector<UniqueFd> fds,
                        std::chrono::milliseconds timeout);
  bool recyclable() const { return recyclable_; }
  // Apps started in this sandbox so far.
  std::uint32_t launches() const { return launches_; }

  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // Waits for the app (the main process) to end and returns how, as soon as
  // the reaper has reported it: the rest of the tree may still be dying. A
  // reaper that dies without reporting (killed from outside, or by the OOM
  // killer) is waited for, and its status is the app's. Calling it again
  // returns the same status. Refused for a prepared sandbox not yet started.
  ErrorOr<ExitStatus> wait_app();
  // wait_app(), but gives up after `timeout` with no status (nullopt) if the
  // app is still running then.
  ErrorOr<std::optional<ExitStatus>> wait_app_for(std::chrono::milliseconds timeout);
  // Waits for the whole tree to be gone (the reaper reaped, so every process
  // of the app is dead) and removes the cgroup; returns the app's status.
  // Calling it again returns the same status.
  ErrorOr<ExitStatus> wait();
  // wait() has returned: nothing of the sandbox is left.
  bool finished() const { return reaped_; }
  // SIGKILLs the whole tree (through the reaper). wait() still has to be called.
  ErrorOr<void> kill();

  // The reaper's pid in the launcher's pid namespace.
  pid_t pid() const { return pid_; }
  const Isolation& isolation() const { return isolation_; }

 private:
  friend class LaunchPool;
  // `stub`: a parked reaper of a LaunchPool, or null for the ordinary launch.
  static ErrorOr<std::unique_ptr<Sandbox>> launch_impl(const SandboxSpec& spec,
                                                       std::unique_ptr<detail::Stub> stub, bool park);
  Sandbox(pid_t pid, UniqueFd pidfd, UniqueFd status_fd, std::unique_ptr<detail::Cgroup> cgroup,
          Isolation isolation);

  pid_t pid_;
  UniqueFd pidfd_;
  UniqueFd status_fd_;  // the reaper writes the app's wait status here
  std::unique_ptr<detail::Cgroup> cgroup_;  // null without cgroup limits
  Isolation isolation_;
  std::optional<ExitStatus> exit_status_;  // the app's, once known
  bool reaped_ = false;
  // A prepared, parked sandbox: the channel start() speaks on and the error
  // pipe whose EOF says the app was exec'd. Empty once started.
  UniqueFd go_;
  UniqueFd error_;
  // Recyclable: status_fd_ is the SOCK_SEQPACKET channel to the reaper
  // (statuses and ready bytes in, start messages out); parked_ while a
  // waiting process is there for start(), which sends it next_stdio_ and
  // next_fds_.
  ErrorOr<void> start_recycled();
  bool recyclable_ = false;
  bool parked_ = false;
  std::array<UniqueFd, 3> next_stdio_;
  std::vector<UniqueFd> next_fds_;
  std::uint64_t oom_kills_before_ = 0;  // the cgroup's count when this launch started
  std::uint32_t launches_ = 0;
};

// Takes the cgroup v1 migration off the launch path (Android-zygote style).
// Moving a process into a v1 cgroup waits for an RCU grace period (~10 ms on
// the development kernel) unless another migration happened moments before, so
// a launch that moves its reaper pays it nearly every time. The pool's own
// thread keeps `size` reapers parked: each made ahead of time with all the
// namespaces (as Sandbox::launch() makes it), moved into a fresh, empty app
// cgroup, and waiting. launch() writes the app's limits into a parked reaper's
// cgroup, hands it the launch plan (through a shared memfd) and the
// descriptors, and from there it is the ordinary launch: id maps, mount view,
// privileges, Landlock, seccomp, the app. A parked reaper is used once and
// holds nothing of any app before its launch; the pool refills in the
// background.
//
// Only for cgroup v1: create() refuses otherwise (on v2 the reaper is born in
// its cgroup anyway). launch() falls back to Sandbox::launch() when none is
// ready, for a policy without cgroup limits, and for a spec with its own
// cgroup_parent. Thread-safe. Sandboxes launched from a pool die with it: their
// reapers' parent-death signal is tied to the pool's thread.
class LaunchPool {
 public:
  static ErrorOr<std::unique_ptr<LaunchPool>> create(std::size_t size);
  ~LaunchPool();
  LaunchPool(const LaunchPool&) = delete;
  LaunchPool& operator=(const LaunchPool&) = delete;

  ErrorOr<std::unique_ptr<Sandbox>> launch(const SandboxSpec& spec);
  // Sandbox::prepare() through a parked reaper (the same fallbacks as launch()).
  ErrorOr<std::unique_ptr<Sandbox>> prepare(const SandboxSpec& spec);
  // Waits until `size` reapers are parked (or the timeout passes); false if not.
  bool wait_until_full(std::chrono::milliseconds timeout);
  std::size_t ready() const;

 private:
  explicit LaunchPool(std::size_t size);
  void refill_loop();
  // A parked reaper for `spec`, or null (none ready, or the spec cannot use one).
  std::unique_ptr<detail::Stub> take_stub(const SandboxSpec& spec);

  const std::size_t size_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::unique_ptr<detail::Stub>> stubs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace pmos::sandbox

#pragma once

// The part of a launch that runs in the new namespaces. Everything here runs
// in a child created by a raw clone3() from a possibly multi-threaded parent,
// so it may only make system calls and read memory the parent prepared: no
// allocation, no locks, no stdio (another thread may have held a lock at the
// moment of the clone, and it stays held forever in the child).

#include <linux/filter.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace pmos::sandbox::detail {

// Why the set-up in the child failed; sent to the parent with errno.
enum class ChildStage : std::uint32_t {
  kStart,
  kMountPrivate,
  kRootTmpfs,
  kPivotRoot,
  kMakeMountpoint,
  kBindSystem,
  kBindPackage,
  kBindExtra,
  kBindDevice,
  kMountProc,
  kWriteFile,
  kOpenData,
  kDetachOldRoot,
  kReadOnly,
  kMountData,
  kMountTmp,
  kHostname,
  kLoopback,
  kDescriptors,
  kSetGroups,
  kSecurebits,
  kCapabilityBounding,
  kSetIds,
  kCapabilities,
  kNoNewPrivs,
  kLandlock,
  kSeccomp,
  kNewSession,
  kFork,
  kChdir,
  kExec,
  kCgroup,
  kRecycle,
};
const char* describe(ChildStage stage);

struct ChildFailure {
  ChildStage stage;
  std::int32_t error;
};

struct BindMount {
  const char* source;  // under /oldroot
  const char* target;  // in the new root
  ChildStage stage;
};

struct Symlink {
  const char* target;
  const char* path;
};

struct FileContent {
  const char* path;
  const char* data;
  std::size_t size;
};

struct LandlockRule {
  const char* path;  // in the new root
  std::uint64_t access;
};

// Everything the child does, decided and formatted by the parent. Only views:
// the storage belongs to the parent (a launch's PlanBuilder), or, for a launch
// through a LaunchPool, to a shared arena the parked reaper can see too.
struct ChildPlan {
  // Pipes: the child reads `go` once the parent has written its id maps (and
  // attached it to its cgroup); it reports a failure on `error`; the reaper
  // writes the app's wait status to `status`. The *_parent_end members are the
  // parent's ends, which the child closes.
  int go_fd = -1;
  // cgroup v1: the app cgroup's `tasks` files (memory, pids), opened by the
  // launcher. The reaper moves itself in by writing "0" to each, first thing.
  // A thread moving itself skips the global lock whose write side waits for
  // an RCU grace period (milliseconds) when the launcher moves a pid.
  int cgroup_tasks_fds[2] = {-1, -1};
  // Sandbox::prepare(): once confined, the reaper forks the app's process and
  // writes 'r' on `go`; that process waits for 's' on `go` before its exec
  // (anything else, or EOF: it exits, and the reaper with it).
  bool park_before_app = false;
  // A recyclable prepare (SandboxSpec::recyclable, with park_before_app): the
  // reaper holds none of the app's descriptors; each start() sends them to the
  // waiting process on `go`, and after the app's exit the reaper resets the
  // sandbox and parks the next one (run_reaper in child.cc). stdio and
  // passed_fds are empty in such a plan.
  bool recyclable = false;
  int go_parent_end = -1;
  int error_fd = -1;
  int error_parent_end = -1;
  int status_fd = -1;
  int status_parent_end = -1;

  // The new root, built in order: directories and empty files as mountpoints,
  // symlinks, bind mounts, generated files.
  std::span<const char* const> directories;  // parents first
  std::span<const char* const> mountpoint_files;
  std::span<const Symlink> symlinks;
  std::span<const BindMount> binds;  // read-only once the root is sealed
  std::span<const FileContent> files;
  const char* data_source = nullptr;  // under /oldroot; bound read-write at /data
  const char* hostname = "";
  std::size_t hostname_size = 0;

  // Descriptors: stdio (-1 for /dev/null), then the passed ones from 3 up.
  int stdio[3] = {-1, -1, -1};
  std::span<int> passed_fds;

  bool drop_supplementary_groups = false;  // setgroups(0) is allowed (privileged launcher)
  uid_t uid = 1000;
  gid_t gid = 1000;

  int landlock_abi = 0;  // 0: no Landlock
  std::uint64_t landlock_fs = 0;
  std::uint64_t landlock_net = 0;
  std::uint64_t landlock_scoped = 0;
  std::span<const LandlockRule> landlock_rules;

  const sock_filter* seccomp_code = nullptr;  // null: no seccomp
  unsigned short seccomp_size = 0;

  const char* cwd = "/";
  // A pooled launch: the shared arena this plan lives in. The reaper unmaps it
  // once the app is forked, so no plan outlives its use in the sandbox.
  void* arena = nullptr;
  std::size_t arena_size = 0;
  std::span<const char* const> exec_candidates;  // full paths to try in order
  std::span<char* const> argv;                   // null-terminated
  std::span<char* const> envp;                   // null-terminated
};

// What start() sends a recyclable sandbox's waiting process on `go` (a
// SOCK_SEQPACKET socket): these bytes, and as SCM_RIGHTS, in this order: the
// write end of the launch's error pipe, the stdio slots named in stdio_mask
// (bit i: fd i; the others get /dev/null), then passed_count descriptors
// (3, 4, ... in the app). Anything else and the process exits unexec'd.
struct LaunchMessage {
  char tag = 's';
  std::uint8_t stdio_mask = 0;
  std::uint8_t passed_count = 0;
};
constexpr int kMaxPassedFds = 64;

// What a recyclable reaper reports on `go` between launches: the app's wait
// status (an int, after every other process of the sandbox is dead), then
// kReadyByte once the sandbox is reset and the next waiting process parked.
constexpr char kReadyByte = 'r';

// The body of the sandbox's pid 1. Never returns.
[[noreturn]] void run_reaper(const ChildPlan& plan);

// The most descriptors a pooled launch hands to its parked reaper: go, error,
// status, three stdio, 64 passed.
constexpr int kMaxStubFds = 3 + 3 + 64;

// A LaunchPool's parked reaper: created with all the namespaces ahead of any
// launch, already moved into its app's cgroup. Maps the arena (a memfd) at
// `arena`, waits on `socket` for the launch: one message with the descriptors,
// whose plan (at the start of the arena) names them by index (go, error,
// status first). Then it is run_reaper() on that plan. Never returns.
[[noreturn]] void run_parked_reaper(int socket, int arena_fd, void* arena, std::size_t arena_size);

}  // namespace pmos::sandbox::detail

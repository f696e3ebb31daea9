// The sandbox's pid 1: builds the app's world, narrows itself in stages, then
// starts the app and reaps. Only system calls here (see child.h): in
// particular the id and group changes go straight to the kernel, because
// glibc's wrappers would try to stop the parent's threads, which do not exist
// in this process, and hang.

#include "child.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "landlock.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace pmos::sandbox::detail {

const char* describe(ChildStage stage) {
  switch (stage) {
    case ChildStage::kStart: return "sandbox: the reaper could not start";
    case ChildStage::kMountPrivate: return "sandbox: making the mount namespace private failed";
    case ChildStage::kRootTmpfs: return "sandbox: mounting the new root tmpfs failed";
    case ChildStage::kPivotRoot: return "sandbox: pivot_root into the new root failed";
    case ChildStage::kMakeMountpoint: return "sandbox: creating a mountpoint in the new root failed";
    case ChildStage::kBindSystem: return "sandbox: bind-mounting a system directory (/usr, /etc ...) failed";
    case ChildStage::kBindPackage: return "sandbox: bind-mounting the package directory failed";
    case ChildStage::kBindExtra: return "sandbox: bind-mounting an extra read-only path failed";
    case ChildStage::kBindDevice: return "sandbox: bind-mounting a device node failed";
    case ChildStage::kMountProc: return "sandbox: mounting /proc failed";
    case ChildStage::kWriteFile: return "sandbox: writing a generated file (/etc/passwd ...) failed";
    case ChildStage::kOpenData: return "sandbox: opening the data directory failed";
    case ChildStage::kDetachOldRoot: return "sandbox: detaching the host root failed";
    case ChildStage::kReadOnly: return "sandbox: making the root read-only failed";
    case ChildStage::kMountData: return "sandbox: mounting the data directory failed";
    case ChildStage::kMountTmp: return "sandbox: mounting /tmp failed";
    case ChildStage::kHostname: return "sandbox: setting the hostname failed";
    case ChildStage::kLoopback: return "sandbox: bringing up loopback failed";
    case ChildStage::kDescriptors: return "sandbox: arranging the app's descriptors failed";
    case ChildStage::kSetGroups: return "sandbox: dropping supplementary groups failed";
    case ChildStage::kSecurebits: return "sandbox: locking the securebits failed";
    case ChildStage::kCapabilityBounding: return "sandbox: emptying the capability bounding set failed";
    case ChildStage::kSetIds: return "sandbox: switching to the app's uid and gid failed";
    case ChildStage::kCapabilities: return "sandbox: dropping capabilities failed";
    case ChildStage::kNoNewPrivs: return "sandbox: setting no_new_privs failed";
    case ChildStage::kLandlock: return "sandbox: applying the Landlock rules failed";
    case ChildStage::kSeccomp: return "sandbox: installing the seccomp filter failed";
    case ChildStage::kNewSession: return "sandbox: starting a new session failed";
    case ChildStage::kFork: return "sandbox: the reaper could not fork the app";
    case ChildStage::kChdir: return "sandbox: changing to the app's working directory failed";
    case ChildStage::kExec: return "sandbox: executing the app failed";
    case ChildStage::kCgroup: return "sandbox: the reaper could not move itself into the app's cgroup";
    case ChildStage::kRecycle: return "sandbox: preparing a recyclable sandbox (non-dumpable reaper, mqueue view) failed";
  }
  return "sandbox: set-up failed";
}

namespace {

// The error descriptor moves during the descriptor shuffle.
int g_error_fd = -1;

[[noreturn]] void fail(ChildStage stage, int error = errno) {
  ChildFailure failure{stage, error};
  // If the parent is gone there is nobody to tell; exit regardless.
  (void)!write(g_error_fd, &failure, sizeof failure);
  _exit(127);
}

void check(bool ok, ChildStage stage) {
  if (!ok) fail(stage);
}

void reset_signal_handlers() {
  // Handlers installed by the launcher point into its code, and ignored
  // signals would stay ignored across exec.
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = SIG_DFL;
  for (int signal = 1; signal < NSIG; ++signal) {
    if (signal == SIGKILL || signal == SIGSTOP) continue;
    sigaction(signal, &action, nullptr);  // glibc's reserved signals fail; harmless
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

void build_root(const ChildPlan& plan) {
  // Nothing we mount may propagate back to the host's mount namespace.
  check(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0, ChildStage::kMountPrivate);
  // The new root is a small tmpfs that holds only mountpoints and a few
  // generated files; it is staged on /tmp (hidden only in this namespace) and
  // the host root stays reachable under /oldroot until the binds are done.
  check(mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m,nr_inodes=4096") == 0,
        ChildStage::kRootTmpfs);
  check(chdir("/tmp") == 0, ChildStage::kPivotRoot);
  check(mkdir("oldroot", 0700) == 0, ChildStage::kPivotRoot);
  check(syscall(SYS_pivot_root, ".", "oldroot") == 0, ChildStage::kPivotRoot);
  check(chdir("/") == 0, ChildStage::kPivotRoot);

  for (const char* dir : plan.directories)
    check(mkdir(dir, 0755) == 0 || errno == EEXIST, ChildStage::kMakeMountpoint);
  for (const char* file : plan.mountpoint_files) {
    int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    check(fd >= 0, ChildStage::kMakeMountpoint);
    close(fd);
  }
  for (const Symlink& link : plan.symlinks)
    check(symlink(link.target, link.path) == 0, ChildStage::kMakeMountpoint);
  for (const BindMount& bind : plan.binds)
    check(mount(bind.source, bind.target, nullptr, MS_BIND | MS_REC, nullptr) == 0, bind.stage);
  // /proc of the app's own pid namespace: it shows only the sandbox's processes.
  check(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0,
        ChildStage::kMountProc);
  for (const FileContent& file : plan.files) {
    int fd = open(file.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    check(fd >= 0, ChildStage::kWriteFile);
    check(write(fd, file.data, file.size) == static_cast<ssize_t>(file.size), ChildStage::kWriteFile);
    close(fd);
  }

  // The data directory must stay writable, so take a detached copy of it now
  // and attach it after the rest is sealed read-only.
  int data = -1;
  if (plan.data_source) {
    data = open_tree(AT_FDCWD, plan.data_source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    check(data >= 0, ChildStage::kOpenData);
  }

  // From here the host's root is gone from this namespace.
  check(umount2("/oldroot", MNT_DETACH) == 0, ChildStage::kDetachOldRoot);
  check(rmdir("/oldroot") == 0, ChildStage::kDetachOldRoot);

  // Seal: every mount so far, the root tmpfs included, read-only and nosuid.
  struct mount_attr sealed;
  std::memset(&sealed, 0, sizeof sealed);
  sealed.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID;
  check(mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &sealed, sizeof sealed) == 0, ChildStage::kReadOnly);

  if (data >= 0) {
    // Writable but never executable: only vetted code from /app and /usr runs.
    struct mount_attr writable;
    std::memset(&writable, 0, sizeof writable);
    writable.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    check(mount_setattr(data, "", AT_EMPTY_PATH | AT_RECURSIVE, &writable, sizeof writable) == 0,
          ChildStage::kMountData);
    check(move_mount(data, "", AT_FDCWD, "/data", MOVE_MOUNT_F_EMPTY_PATH) == 0, ChildStage::kMountData);
    close(data);
  }
  check(mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777") == 0,
        ChildStage::kMountTmp);
}

void bring_up_loopback() {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  check(fd >= 0, ChildStage::kLoopback);
  struct ifreq request;
  std::memset(&request, 0, sizeof request);
  std::memcpy(request.ifr_name, "lo", 3);
  check(ioctl(fd, SIOCGIFFLAGS, &request) == 0, ChildStage::kLoopback);
  request.ifr_flags |= IFF_UP;
  check(ioctl(fd, SIOCSIFFLAGS, &request) == 0, ChildStage::kLoopback);
  close(fd);
}

// Leaves exactly: 0-2 stdio, 3.. the passed descriptors, then the error and
// status pipes (close-on-exec). Returns the index of the error pipe.
// Returns where the error descriptor went; the status descriptor follows it,
// then (when parking) `go`. Those stay close-on-exec.
int arrange_descriptors(const ChildPlan& plan) {
  constexpr int kMax = 3 + 64 + 3;
  int sources[kMax];
  int count = 0;
  for (int i = 0; i < 3; ++i) {
    int fd = plan.stdio[i];
    if (fd < 0) {
      fd = open("/dev/null", O_RDWR | O_CLOEXEC);
      check(fd >= 0, ChildStage::kDescriptors);
    }
    sources[count++] = fd;
  }
  if (plan.passed_fds.size() > 64) fail(ChildStage::kDescriptors, EMFILE);
  for (int fd : plan.passed_fds) sources[count++] = fd;
  sources[count++] = g_error_fd;
  sources[count++] = plan.status_fd;
  int kept = 2;
  if (plan.park_before_app) {
    sources[count++] = plan.go_fd;
    kept = 3;
  }
  // First lift every source above the final range, so no dup2 below can
  // overwrite a source that is still needed.
  for (int i = 0; i < count; ++i) {
    sources[i] = fcntl(sources[i], F_DUPFD_CLOEXEC, count);
    check(sources[i] >= 0, ChildStage::kDescriptors);
  }
  for (int i = 0; i < count; ++i) {
    int flags = i >= count - kept ? O_CLOEXEC : 0;
    check(dup3(sources[i], i, flags) == i, ChildStage::kDescriptors);
  }
  // Everything else the launcher had open, whoever opened it, is gone.
  check(syscall(SYS_close_range, count, ~0u, 0) == 0, ChildStage::kDescriptors);
  g_error_fd = count - kept;
  return count - kept;
}

void drop_privileges(const ChildPlan& plan) {
  if (plan.drop_supplementary_groups)
    check(syscall(SYS_setgroups, 0, nullptr) == 0, ChildStage::kSetGroups);
  // Root inside the namespace, should the app ever become it, gains nothing at
  // exec; and nothing may be put back in the ambient set.
  check(prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |
                                     SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
                                     SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED) == 0,
        ChildStage::kSecurebits);
  for (int cap = 0; cap < 64; ++cap) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0) continue;
    check(errno == EINVAL, ChildStage::kCapabilityBounding);  // EINVAL: past the last capability
    break;
  }
  check(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == 0, ChildStage::kCapabilityBounding);
  check(syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) == 0, ChildStage::kSetIds);
  check(syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) == 0, ChildStage::kSetIds);
  struct __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  std::memset(data, 0, sizeof data);
  check(syscall(SYS_capset, &header, data) == 0, ChildStage::kCapabilities);
}

void apply_landlock(const ChildPlan& plan) {
  landlock::RulesetAttr attr;
  attr.handled_access_fs = plan.landlock_fs;
  attr.handled_access_net = plan.landlock_net;
  attr.scoped = plan.landlock_scoped;
  int ruleset = static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0));
  check(ruleset >= 0, ChildStage::kLandlock);
  for (const LandlockRule& rule : plan.landlock_rules) {
    int fd = open(rule.path, O_PATH | O_CLOEXEC);
    check(fd >= 0, ChildStage::kLandlock);
    landlock::PathBeneathAttr beneath{rule.access, fd};
    check(syscall(SYS_landlock_add_rule, ruleset, landlock::kRulePathBeneath, &beneath, 0) == 0,
          ChildStage::kLandlock);
    close(fd);
  }
  check(syscall(SYS_landlock_restrict_self, ruleset, 0) == 0, ChildStage::kLandlock);
  close(ruleset);
}

[[noreturn]] void exec_app(const ChildPlan& plan) {
  // Signal handlers and mask are the defaults the reaper set for itself.
  check(chdir(plan.cwd) == 0, ChildStage::kChdir);
  int error = ENOENT;
  for (const char* candidate : plan.exec_candidates) {
    execve(candidate, plan.argv.data(), plan.envp.data());
    // Like execvp: a later PATH entry may still work, but report the most telling error.
    if (errno != ENOENT) error = errno;
  }
  fail(ChildStage::kExec, error);
}

// A prepared app's process (see run_reaper): waits for 's' on `go`, then
// execs the app; anything else, or EOF, means the sandbox was discarded.
struct WaiterArgs {
  const ChildPlan* plan;
  int go_fd;
};
// Enough for exec_app() and fail(), with the sanitizers' frames.
constexpr std::size_t kWaiterStackBytes = 256 * 1024;

int wait_then_exec(void* arg) {
  const WaiterArgs& args = *static_cast<const WaiterArgs*>(arg);
  char start = 0;
  ssize_t got;
  do {
    got = read(args.go_fd, &start, 1);
  } while (got < 0 && errno == EINTR);
  if (got != 1 || start != 's') _exit(0);
  close(args.go_fd);
  exec_app(*args.plan);
}


// --- Recycling (ChildPlan::recyclable): one sandbox, many launches of the
// same app. Between two launches the reaper, pid 1 and as confined as the
// app, makes sure nothing of the last run is left: no process, no file in
// /tmp, no System V or POSIX IPC object, no change the app made to the
// reaper's own scheduling or limits. Whatever it cannot clean or check, it
// does not hide: it exits, and the launcher makes a fresh sandbox.

// A recyclable waiting process: receives the launch's descriptors with the
// start message (LaunchMessage), puts them in place and execs the app.
struct RecycledWaiterArgs {
  const ChildPlan* plan;
  int go_fd;
};

// One message of exactly `size` bytes carrying at most `max_fds`
// descriptors in one SCM_RIGHTS block (received close-on-exec) into `fds`.
// Returns how many came; -1 for EOF, an error, a message of another size or
// a cut-off one; -2 for a control message of another kind.
int receive_with_fds(int socket, void* data, std::size_t size, int* fds, int max_fds) {
  if (max_fds > kMaxStubFds) return -1;
  iovec io{data, size};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxStubFds)];
  msghdr message{};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  message.msg_control = control;
  // More descriptors than the caller has room for cut the message (MSG_CTRUNC).
  message.msg_controllen = CMSG_SPACE(sizeof(int) * static_cast<std::size_t>(max_fds));
  ssize_t got;
  do {
    got = recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  if (got != static_cast<ssize_t>(size) || (message.msg_flags & (MSG_CTRUNC | MSG_TRUNC))) return -1;
  int count = 0;
  bool seen = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || seen) return -2;
    seen = true;
    count = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    if (count > max_fds) return -2;
    std::memcpy(fds, CMSG_DATA(c), static_cast<std::size_t>(count) * sizeof(int));
  }
  return count;
}

int receive_then_exec(void* arg) {
  const RecycledWaiterArgs& args = *static_cast<const RecycledWaiterArgs*>(arg);
  int fds[1 + 3 + kMaxPassedFds];
  LaunchMessage header;
  // EOF: the sandbox is being discarded. A garbled message: the same.
  int count = receive_with_fds(args.go_fd, &header, sizeof header, fds, 1 + 3 + kMaxPassedFds);
  if (count < 0) _exit(0);
  int stdio_given = __builtin_popcount(header.stdio_mask & 7u);
  if (header.tag != 's' || (header.stdio_mask & ~7u) || header.passed_count > kMaxPassedFds ||
      count != 1 + stdio_given + header.passed_count)
    _exit(0);
  // Final layout: 0-2 stdio, 3.. passed, then the error pipe (close-on-exec).
  int sources[3 + kMaxPassedFds + 1];
  int next = 1;
  int total = 0;
  for (int i = 0; i < 3; ++i) {
    if (header.stdio_mask & (1u << i)) {
      sources[total++] = fds[next++];
    } else {
      int null = open("/dev/null", O_RDWR | O_CLOEXEC);
      if (null < 0) _exit(127);
      sources[total++] = null;
    }
  }
  for (int i = 0; i < header.passed_count; ++i) sources[total++] = fds[next++];
  sources[total++] = fds[0];
  for (int i = 0; i < total; ++i) {
    sources[i] = fcntl(sources[i], F_DUPFD_CLOEXEC, total);
    if (sources[i] < 0) _exit(127);
  }
  for (int i = 0; i < total; ++i) {
    if (dup3(sources[i], i, i == total - 1 ? O_CLOEXEC : 0) != i) _exit(127);
  }
  // The reaper's channel and everything received is gone from here on.
  if (syscall(SYS_close_range, total, ~0u, 0) != 0) _exit(127);
  // Only this process uses the variable now (the reaper is in wait4()).
  g_error_fd = total - 1;
  exec_app(*args.plan);
}

// What the app could change on pid 1 from its own uid (prlimit, nice,
// affinity, scheduling policy, I/O priority: each allowed on a process of
// the same uid, and inherited by the next waiting process).
struct ReaperAttributes {
  rlimit limits[RLIM_NLIMITS];
  int nice;
  int policy;
  sched_param param;
  cpu_set_t affinity;
  long ioprio;
};

bool snapshot(ReaperAttributes& a) {
  std::memset(&a, 0, sizeof a);
  for (int r = 0; r < RLIM_NLIMITS; ++r)
    if (getrlimit(static_cast<__rlimit_resource>(r), &a.limits[r]) != 0) return false;
  errno = 0;
  a.nice = getpriority(PRIO_PROCESS, 0);
  if (errno != 0) return false;
  a.policy = sched_getscheduler(0);
  if (a.policy < 0 || sched_getparam(0, &a.param) != 0) return false;
  if (sched_getaffinity(0, sizeof a.affinity, &a.affinity) != 0) return false;
  a.ioprio = syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0);
  return a.ioprio >= 0;
}

bool unchanged(const ReaperAttributes& saved) {
  ReaperAttributes now;
  return snapshot(now) && std::memcmp(&now, &saved, sizeof now) == 0;
}

// Kills every other process of the pid namespace (pid 1's kill(-1) reaches
// all but itself) and reaps until there is no child left. A process forking
// at that moment is caught by the loop: kill again until nothing is left.
void kill_the_rest() {
  for (int round = 0; round < 1000; ++round) {
    if (kill(-1, SIGKILL) != 0 && errno == ESRCH) return;
    int status;
    while (wait4(-1, &status, __WALL, nullptr) > 0 || errno == EINTR) {
    }
  }
  _exit(126);  // something survives SIGKILL: this sandbox is not reused
}

// linux_dirent64: d_ino, d_off, then these.
constexpr int kDirentLength = 16;
constexpr int kDirentType = 18;
constexpr int kDirentName = 19;

// Bounds of the /tmp clean-up; past them the sandbox is not reused.
constexpr int kMaxTmpDepth = 32;
constexpr long kMaxTmpEntries = 100000;

// Empties the directory `dir` (owned by the app's uid, as everything in /tmp
// is: no other uid is mapped). Directories are made searchable first: the
// app may have left mode-000 ones.
bool empty_directory(int dir, int depth, long& budget) {
  if (fchmod(dir, 0700) != 0) return false;
  alignas(8) char buffer[2048];
  for (;;) {
    if (lseek(dir, 0, SEEK_SET) != 0) return false;
    long n = syscall(SYS_getdents64, dir, buffer, sizeof buffer);
    if (n < 0) return false;
    bool removed = false;
    for (long at = 0; at < n;) {
      unsigned short length;
      std::memcpy(&length, buffer + at + kDirentLength, sizeof length);
      unsigned char type = static_cast<unsigned char>(buffer[at + kDirentType]);
      const char* name = buffer + at + kDirentName;
      at += length;
      if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
      if (--budget < 0) return false;
      if (type == DT_DIR) {
        if (depth >= kMaxTmpDepth) return false;
        if (fchmodat(dir, name, 0700, 0) != 0) return false;
        int sub = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) return false;
        bool ok = empty_directory(sub, depth + 1, budget);
        close(sub);
        if (!ok || unlinkat(dir, name, AT_REMOVEDIR) != 0) return false;
      } else if (unlinkat(dir, name, 0) != 0) {
        return false;
      }
      removed = true;
    }
    // A pass that removed nothing saw only "." and "..": empty.
    if (!removed) return true;
  }
}

bool empty_tmp() {
  int tmp = open("/tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (tmp < 0) return false;
  long budget = kMaxTmpEntries;
  bool ok = empty_directory(tmp, 0, budget) && fchmod(tmp, 01777) == 0;  // the app owns /tmp: its mode too
  close(tmp);
  return ok;
}

// System V objects: found by index with the *_STAT_ANY commands (which
// ignore the object's mode: the app may have made it 000) and removed by id;
// the app's uid owns them all (no other is mapped). Then checked gone.
bool remove_sysv_ipc() {
  for (int pass = 0; pass < 2; ++pass) {
    bool found = false;
    shm_info shm{};
    int max = shmctl(0, SHM_INFO, reinterpret_cast<shmid_ds*>(&shm));
    if (max < 0) return false;
    for (int i = 0; i <= max; ++i) {
      shmid_ds ds;
      int id = shmctl(i, SHM_STAT_ANY, &ds);
      if (id < 0) continue;
      found = true;
      if (shmctl(id, IPC_RMID, nullptr) != 0) return false;
    }
    seminfo sem{};
    max = semctl(0, 0, SEM_INFO, &sem);
    if (max < 0) return false;
    for (int i = 0; i <= max; ++i) {
      semid_ds ds;
      int id = semctl(i, 0, SEM_STAT_ANY, &ds);
      if (id < 0) continue;
      found = true;
      if (semctl(id, 0, IPC_RMID) != 0) return false;
    }
    msginfo msg{};
    max = msgctl(0, MSG_INFO, reinterpret_cast<msqid_ds*>(&msg));
    if (max < 0) return false;
    for (int i = 0; i <= max; ++i) {
      msqid_ds ds;
      int id = msgctl(i, MSG_STAT_ANY, &ds);
      if (id < 0) continue;
      found = true;
      if (msgctl(id, IPC_RMID, nullptr) != 0) return false;
    }
    if (!found) return true;  // this pass saw none: the namespace is clean
  }
  return false;
}

// POSIX message queues live in the ipc namespace's own mqueue filesystem,
// which the app cannot list; the reaper mounted it, detached, before it gave
// up its capabilities (open_mqueue_view) and lists it here. mq_unlink is not
// a path operation, so Landlock does not stand in the way.
bool remove_mqueues(int mqueue_dir) {
  alignas(8) char buffer[2048];
  long budget = kMaxTmpEntries;
  for (;;) {
    if (lseek(mqueue_dir, 0, SEEK_SET) != 0) return false;
    long n = syscall(SYS_getdents64, mqueue_dir, buffer, sizeof buffer);
    if (n < 0) return false;
    bool removed = false;
    for (long at = 0; at < n;) {
      unsigned short length;
      std::memcpy(&length, buffer + at + kDirentLength, sizeof length);
      const char* name = buffer + at + kDirentName;
      at += length;
      if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
      if (--budget < 0 || syscall(SYS_mq_unlink, name) != 0) return false;
      removed = true;
    }
    if (!removed) return true;
  }
}

int open_mqueue_view() {
  int context = fsopen("mqueue", FSOPEN_CLOEXEC);
  check(context >= 0, ChildStage::kRecycle);
  check(fsconfig(context, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) == 0, ChildStage::kRecycle);
  int mount_fd = fsmount(context, FSMOUNT_CLOEXEC, 0);
  check(mount_fd >= 0, ChildStage::kRecycle);
  close(context);
  // Opened now, before Landlock: a detached mount is under none of its rules.
  int dir = openat(mount_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  check(dir >= 0, ChildStage::kRecycle);
  close(mount_fd);
  return dir;
}

// The reaper of a recyclable sandbox, confined, after its set-up: parks a
// waiting process, reaps the app, reports, resets, and again. Exits (and the
// kernel takes the namespaces down) when its launcher goes, or when a reset
// step fails: then the launcher sees EOF where it waits for kReadyByte.
[[noreturn]] void run_recycling(const ChildPlan& plan, int go_fd, int mqueue_dir) {
  // Nothing but the channel and the mqueue view: the set-up's error and
  // status pipes close here (the launcher takes EOF on the error pipe with
  // kReadyByte as "parked").
  int low = go_fd < mqueue_dir ? go_fd : mqueue_dir;
  int high = go_fd < mqueue_dir ? mqueue_dir : go_fd;
  if (low > 0) syscall(SYS_close_range, 0, low - 1, 0);
  if (high > low + 1) syscall(SYS_close_range, low + 1, high - 1, 0);
  syscall(SYS_close_range, high + 1, ~0u, 0);
  ReaperAttributes saved;
  if (!snapshot(saved)) _exit(126);
  void* stack = mmap(nullptr, kWaiterStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                     -1, 0);
  if (stack == MAP_FAILED) _exit(126);
  RecycledWaiterArgs waiter{&plan, go_fd};
  for (;;) {
    // The next process inherits these; the app may have lowered them.
    if (!unchanged(saved)) _exit(126);
    // The stack is free again: the last process that used it exec'd or died.
#if defined(__SANITIZE_ADDRESS__)
    // That process never returned, so its frames' redzones are still marked
    // in the shadow memory we share; the next process must not trip on them.
    __asan_unpoison_memory_region(stack, kWaiterStackBytes);
#endif
    pid_t app = clone(receive_then_exec, static_cast<char*>(stack) + kWaiterStackBytes, CLONE_VM | SIGCHLD, &waiter);
    if (app < 0) _exit(126);
    if (send(go_fd, &kReadyByte, 1, MSG_NOSIGNAL) != 1) _exit(0);
    int app_status = 0;
    for (;;) {
      int status = 0;
      pid_t pid = static_cast<pid_t>(wait4(-1, &status, __WALL, nullptr));
      if (pid == app) {
        app_status = status;
        break;
      }
      if (pid < 0 && errno != EINTR) _exit(126);
    }
    // Before the status: the launcher answers on it, and by then nothing
    // the app left running may still run (or talk to its broker).
    kill_the_rest();
    if (send(go_fd, &app_status, sizeof app_status, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof app_status))
      _exit(0);
    if (!empty_tmp() || !remove_sysv_ipc() || !remove_mqueues(mqueue_dir)) _exit(126);
  }
}

}  // namespace

void run_reaper(const ChildPlan& plan) {
  g_error_fd = plan.error_fd;
  reset_signal_handlers();
  // If the launcher dies, so does the sandbox (and with pid 1, all of it).
  check(prctl(PR_SET_PDEATHSIG, SIGKILL) == 0, ChildStage::kStart);
  close(plan.go_parent_end);
  close(plan.error_parent_end);
  close(plan.status_parent_end);
  // Into the app's cgroup before anything else runs here, so nothing of the
  // app ever runs outside its limits. Single-threaded, so the thread is the
  // whole process.
  for (int fd : plan.cgroup_tasks_fds) {
    if (fd < 0) continue;
    check(write(fd, "0", 1) == 1, ChildStage::kCgroup);
    close(fd);
  }
  char go = 0;
  ssize_t got;
  do {
    got = read(plan.go_fd, &go, 1);
  } while (got < 0 && errno == EINTR);
  if (got != 1) _exit(127);  // the parent failed before mapping our ids and went away
  // Become the app's uid and gid now: inodes we create in the new tmpfs need
  // an owner mapped in its user namespace, and the launcher's may not be. The
  // namespace's capabilities stay: that uid was never root in this namespace.
  check(syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) == 0, ChildStage::kSetIds);
  check(syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) == 0, ChildStage::kSetIds);

  // Stage 1: the world. Namespaces are in place; now the mount view, the
  // hostname, loopback and the descriptors.
  build_root(plan);
  check(sethostname(plan.hostname, plan.hostname_size) == 0, ChildStage::kHostname);
  bring_up_loopback();
  // No controlling terminal: a terminal shared with the launcher would let the
  // app push keystrokes into it (TIOCSTI) or receive its job-control signals.
  check(setsid() >= 0, ChildStage::kNewSession);
  if (!plan.park_before_app) close(plan.go_fd);
  int error_fd = arrange_descriptors(plan);
  int status_fd = error_fd + 1;
  int mqueue_dir = plan.recyclable ? open_mqueue_view() : -1;

  // Stage 2: privileges. The app's ids, no capabilities anywhere.
  drop_privileges(plan);
  // Changing credentials cleared the parent-death signal; set it again and
  // make sure the launcher did not die in between (its read end of the error
  // pipe would be gone).
  check(prctl(PR_SET_PDEATHSIG, SIGKILL) == 0, ChildStage::kStart);
  struct pollfd parent_alive{error_fd, POLLOUT, 0};
  if (poll(&parent_alive, 1, 0) == 1 && (parent_alive.revents & POLLERR)) _exit(127);
  // A recyclable reaper outlives its apps: out of their reach. Not dumpable:
  // no ptrace, /proc/1/mem, process_vm_*, pidfd_getfd, and /proc/1's files
  // belong to a uid the app does not have. (After the last credential
  // change, which would reset it.)
  if (plan.recyclable) check(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0, ChildStage::kRecycle);

  // Stage 3: narrow. no_new_privs, Landlock, then seccomp last, so the
  // filter does not need to allow the set-up calls.
  check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, ChildStage::kNoNewPrivs);
  if (plan.landlock_abi > 0) apply_landlock(plan);
  if (plan.seccomp_code) {
    sock_fprog program{plan.seccomp_size, const_cast<sock_filter*>(plan.seccomp_code)};
    check(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) == 0, ChildStage::kSeccomp);
  }
  // The app is our child, so that this process stays pid 1 and reaps
  // whatever the app leaves behind. A raw clone: glibc's fork would run
  // at-fork handlers and take locks copied from the launcher. Not vfork: the
  // launcher learns of the exec when the last copy of the error pipe closes,
  // and a vfork parent would hold its copy until the scheduler runs it again
  // after the exec (measured: milliseconds on a busy machine).
  pid_t app;
  int go_fd = status_fd + 1;
  if (plan.recyclable) run_recycling(plan, go_fd, mqueue_dir);
  WaiterArgs waiter{&plan, go_fd};
  if (plan.park_before_app) {
    // Prepared: confined, with everything but the app in place, and the
    // app's process made already, waiting for `go` to exec. start() then
    // wakes one process that only has to exec, where it used to wake the
    // reaper, which forked, and the new process had to get a CPU too: each
    // task that must get a CPU can wait behind a busy CPU's current task
    // (measured: a new process 3.4 ms behind a compiler). Until the exec it
    // runs only our code, as confined as the app will be.
    //
    // It shares the reaper's memory (CLONE_VM, on a stack of its own; not a
    // thread: its own pid, descriptors and signal handlers). A forked copy
    // would have to tear down its copy of the reaper's address space (itself
    // a copy of the launcher's) in the exec, on the launch path: traced, the
    // exec took 0.32 ms that way and 0.15 ms this way, where the exec only
    // lets go of it. The reaper meanwhile only closes descriptors (calls
    // that succeed, so the errno both share is not written) and blocks in
    // wait4(), and keeps the plan mapped.
    void* stack = mmap(nullptr, kWaiterStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                       -1, 0);
    check(stack != MAP_FAILED, ChildStage::kFork);
    app = clone(wait_then_exec, static_cast<char*>(stack) + kWaiterStackBytes, CLONE_VM | SIGCHLD, &waiter);
    check(app >= 0, ChildStage::kFork);
    if (write(go_fd, "r", 1) != 1) _exit(127);
    close(go_fd);
  } else {
    app = static_cast<pid_t>(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
    check(app >= 0, ChildStage::kFork);
    if (app == 0) exec_app(plan);
  }

  // The reaper keeps nothing of the app's: a passed socket must close when the
  // app closes it, and the launcher learns of a successful exec by EOF.
  syscall(SYS_close_range, 0, error_fd, 0);
  if (plan.arena && !plan.park_before_app) {
    // The plan is not needed any more; `plan` itself lives in the arena. A
    // prepared app's process reads it from our memory until its exec, so
    // there it stays mapped until the reaper exits.
    munmap(plan.arena, plan.arena_size);
  }
  for (;;) {
    int status = 0;
    pid_t pid = static_cast<pid_t>(wait4(-1, &status, __WALL, nullptr));
    if (pid == app) {
      (void)!write(status_fd, &status, sizeof status);
      // Leaving kills everything else in the namespace: the app's lifetime is the tree's.
      _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
    if (pid < 0 && errno != EINTR) _exit(127);
  }
}

void run_parked_reaper(int socket, int arena_fd, void* arena, std::size_t arena_size) {
  // Handlers installed by the launcher point into its code; this process must
  // not run them. It dies with the pool's thread, which created it.
  reset_signal_handlers();
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) _exit(127);
  // The launcher kept the arena out of every fork (MADV_DONTFORK), so its
  // addresses are free here: map it at the same place, and the pointers of the
  // plan the launcher will write there are valid in this process too.
  void* mapped = mmap(arena, arena_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, arena_fd, 0);
  if (mapped != arena) _exit(127);
  // Nothing else of the launcher's: its descriptors are none of an app's business.
  if (socket != 3) {
    if (dup3(socket, 3, O_CLOEXEC) != 3) _exit(127);
    socket = 3;
  }
  if (syscall(SYS_close_range, 0, 2, 0) != 0 || syscall(SYS_close_range, 4, ~0u, 0) != 0) _exit(127);

  int fds[kMaxStubFds];
  char byte = 0;
  int count = receive_with_fds(socket, &byte, 1, fds, kMaxStubFds);
  if (count == -1) _exit(0);  // the pool is gone, or a garbled launch
  if (count < 0) _exit(127);
  if (count < 3) _exit(127);
  // The plan names descriptors by their index in the message.
  ChildPlan& plan = *static_cast<ChildPlan*>(arena);
  auto resolve = [&](int& index) {
    if (index < 0) return;
    if (index >= count) _exit(127);
    index = fds[index];
  };
  resolve(plan.go_fd);
  resolve(plan.error_fd);
  resolve(plan.status_fd);
  for (int& fd : plan.stdio) resolve(fd);
  for (int& fd : plan.passed_fds) resolve(fd);
  plan.go_parent_end = plan.error_parent_end = plan.status_parent_end = -1;
  close(socket);
  run_reaper(plan);
}

}  // namespace pmos::sandbox::detail

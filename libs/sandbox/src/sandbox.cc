#include "pmos/sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <new>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "cgroup.h"
#include "child.h"
#include "landlock.h"
#include "pmos/sandbox/seccomp_profile.h"

namespace pmos::sandbox {
namespace {

using detail::BindMount;
using detail::ChildPlan;
using detail::ChildStage;

// The app's ids inside its user namespace: never 0, so nothing in the app is
// even nominally root.
constexpr uid_t kAppUid = 1000;
constexpr gid_t kAppGid = 1000;

// All of these in one clone3(): user first in the kernel's order, so the
// others are owned by it and the reaper holds full capabilities over them.
constexpr std::uint64_t kNamespaces = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC |
                                      CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWCGROUP;

// Host directories that may be symlinks into /usr (merged /usr) or real
// directories (older layouts); either way the app sees them as the host has them.
constexpr const char* kSystemDirs[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};

// The only parts of /etc an app sees. Each one is needed by libc or by TLS;
// the rest of /etc (shadow, ssh keys, machine-id, the phone's configuration)
// is none of the app's business.
constexpr const char* kEtcEssentials[] = {
    "ld.so.cache",    // the dynamic loader finds libraries through it
    "ld.so.conf",     // ditto
    "ld.so.conf.d",   // ditto
    "localtime",      // local time zone
    "nsswitch.conf",  // how libc resolves names (files only; there is no network)
    "hosts",          // localhost
    "host.conf",      // resolver options
    "gai.conf",       // getaddrinfo ordering
    "protocols",      // getprotobyname
    "services",       // getservbyname
    "ssl",            // TLS roots for connections the broker hands over
    "ca-certificates",  // ditto
    "alternatives",   // Debian's /usr/bin symlinks point through here
    "os-release",     // the platform's name and version
};

// /dev: the harmless nodes only.
constexpr const char* kDeviceNodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

constexpr std::uint64_t kReadOnly = landlock::kReadFile | landlock::kReadDir;
constexpr std::uint64_t kReadExecute = kReadOnly | landlock::kExecute;
// Everything in a writable directory except executing (only vetted code runs)
// and creating device nodes.
constexpr std::uint64_t kReadWrite =
    kReadOnly | landlock::kWriteFile | landlock::kRemoveDir | landlock::kRemoveFile |
    landlock::kMakeDir | landlock::kMakeReg | landlock::kMakeSock | landlock::kMakeFifo |
    landlock::kMakeSym | landlock::kRefer | landlock::kTruncate;
constexpr std::uint64_t kDevice =
    landlock::kReadFile | landlock::kWriteFile | landlock::kTruncate | landlock::kIoctlDev;

bool valid_app_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// An absolute path without "." or ".." components or doubled slashes: what
// it names is what the mount will show, with no surprises.
bool clean_absolute_path(std::string_view path) {
  if (path.size() < 2 || path[0] != '/' || path.back() == '/') return false;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

bool under(std::string_view path, std::string_view dir) {
  return path == dir || (path.size() > dir.size() && path.substr(0, dir.size()) == dir &&
                         path[dir.size()] == '/');
}

bool has_capability(int cap) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  return (data[cap / 32].effective >> (cap % 32)) & 1u;
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

ErrorOr<Pipe> make_pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Error::system("sandbox: pipe2", errno);
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// The `go` channel: a socket pair rather than a pipe, so that telling a reaper
// that has already failed and exited gives EPIPE, not a SIGPIPE that would
// take the launcher (pmosd) down.
// One message with `fds` attached in one SCM_RIGHTS block; true if all of
// `data` went (errno says why not).
bool send_with_fds(int socket, const void* data, std::size_t size, const std::vector<int>& fds) {
  iovec io{const_cast<void*>(data), size};
  std::vector<char> control(CMSG_SPACE(fds.size() * sizeof(int)));
  msghdr message{};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  message.msg_control = control.data();
  message.msg_controllen = control.size();
  cmsghdr* c = CMSG_FIRSTHDR(&message);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
  std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
  return sendmsg(socket, &message, MSG_NOSIGNAL) == static_cast<ssize_t>(size);
}

ErrorOr<Pipe> make_go_channel() {
  int fds[2];
  // Messages, not a byte stream: a recyclable sandbox's channel carries
  // statuses, ready bytes and start messages with descriptors.
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) return Error::system("sandbox: socketpair", errno);
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

bool send_byte(int fd, char byte) { return send(fd, &byte, 1, MSG_NOSIGNAL) == 1; }

// Reads the error pipe of a reaper that was told to go on: EOF means the app
// was exec'd (the last copy of the write end closed on exec); a record says
// which step failed.
ErrorOr<void> await_exec(int error_fd) {
  detail::ChildFailure failure{};
  ssize_t n;
  do {
    n = read(error_fd, &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return {};
  if (n != static_cast<ssize_t>(sizeof failure)) return Error::internal("sandbox: garbled set-up report from the reaper");
  return Error::system(detail::describe(failure.stage), failure.error);
}

ErrorOr<void> write_proc_file(pid_t pid, const char* name, std::string_view text) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/%s", static_cast<int>(pid), name);
  UniqueFd fd(open(path, O_WRONLY | O_CLOEXEC));
  if (!fd) return Error::system("sandbox: opening the reaper's id map", errno);
  if (write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return Error::system("sandbox: the kernel refused the app's id map (mapping another host id "
                         "needs CAP_SETUID/CAP_SETGID)",
                         errno);
  return {};
}

// The parent's side of the plan: owns every string the plan points into.
class PlanBuilder {
 public:
  const char* keep(std::string text) {
    strings_.push_back(std::move(text));
    return strings_.back().c_str();
  }
  char* keep_mutable(std::string text) {
    strings_.push_back(std::move(text));
    return strings_.back().data();
  }
  // mkdir -p for a path in the new root (parents first, each once).
  void directories_for(std::string_view path) {
    for (std::size_t slash = path.find('/', 1); slash != std::string_view::npos;
         slash = path.find('/', slash + 1))
      directory(path.substr(0, slash));
  }
  void directory(std::string_view path) {
    for (const char* existing : directories)
      if (path == existing) return;
    directories.push_back(keep(std::string(path)));
  }
  void bind(std::string_view host_path, std::string_view inside, bool is_dir, ChildStage stage) {
    directories_for(inside);
    if (is_dir) directory(inside);
    else mountpoint_files.push_back(keep(std::string(inside)));
    binds.push_back(BindMount{keep("/oldroot" + std::string(host_path)), keep(std::string(inside)), stage});
  }
  void rule(std::string_view inside, std::uint64_t access, bool is_dir) {
    if (!is_dir) access &= landlock::kFileRights;
    landlock_rules.push_back({keep(std::string(inside)), access});
  }

  // Points the plan's views at the vectors below; call once they are complete.
  void finish() {
    plan.directories = directories;
    plan.mountpoint_files = mountpoint_files;
    plan.symlinks = symlinks;
    plan.binds = binds;
    plan.files = files;
    plan.passed_fds = passed_fds;
    plan.landlock_rules = landlock_rules;
    plan.exec_candidates = exec_candidates;
    plan.argv = argv;
    plan.envp = envp;
  }

  ChildPlan plan;
  std::vector<const char*> directories;
  std::vector<const char*> mountpoint_files;
  std::vector<detail::Symlink> symlinks;
  std::vector<BindMount> binds;
  std::vector<detail::FileContent> files;
  std::vector<int> passed_fds;
  std::vector<detail::LandlockRule> landlock_rules;
  std::vector<const char*> exec_candidates;
  std::vector<char*> argv;
  std::vector<char*> envp;

 private:
  std::deque<std::string> strings_;  // a deque never moves its elements
};

ErrorOr<void> plan_root(const SandboxSpec& spec, PlanBuilder& b, std::uint64_t handled_fs) {
  auto rule = [&](std::string_view inside, std::uint64_t access, bool is_dir) {
    if (handled_fs) b.rule(inside, access & handled_fs, is_dir);
  };
  // Listing names anywhere in the app's view is harmless: it is all the app's.
  rule("/", landlock::kReadDir, true);

  struct stat st;
  if (stat("/usr", &st) != 0 || !S_ISDIR(st.st_mode)) return Error::not_found("sandbox: the host has no /usr");
  b.bind("/usr", "/usr", true, ChildStage::kBindSystem);
  rule("/usr", kReadExecute, true);
  for (const char* dir : kSystemDirs) {
    if (lstat(dir, &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char target[256];
      ssize_t n = readlink(dir, target, sizeof target - 1);
      if (n <= 0) continue;
      b.symlinks.push_back({b.keep(std::string(target, static_cast<std::size_t>(n))), dir});
    } else if (S_ISDIR(st.st_mode)) {
      b.bind(dir, dir, true, ChildStage::kBindSystem);
      rule(dir, kReadExecute, true);
    }
  }

  b.directory("/etc");
  rule("/etc", kReadOnly, true);
  for (const char* name : kEtcEssentials) {
    std::string path = std::string("/etc/") + name;
    if (lstat(path.c_str(), &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char target[512];
      ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
      if (n <= 0) continue;
      b.symlinks.push_back({b.keep(std::string(target, static_cast<std::size_t>(n))), b.keep(path)});
    } else if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) {
      b.bind(path, path, S_ISDIR(st.st_mode), ChildStage::kBindSystem);
    }
  }
  // The app user by name, for programs that look themselves up.
  static constexpr char kPasswd[] = "app:x:1000:1000:app:/data:/usr/sbin/nologin\n";
  static constexpr char kGroup[] = "app:x:1000:\n";
  b.files.push_back({"/etc/passwd", kPasswd, sizeof kPasswd - 1});
  b.files.push_back({"/etc/group", kGroup, sizeof kGroup - 1});

  b.directory("/app");
  if (!spec.package_dir.empty()) b.bind(spec.package_dir, "/app", true, ChildStage::kBindPackage);
  rule("/app", kReadExecute, true);

  for (const std::string& path : spec.extra_ro_paths) {
    if (stat(path.c_str(), &st) != 0) return Error::system("sandbox: an extra read-only path is missing", errno);
    bool is_dir = S_ISDIR(st.st_mode);
    b.bind(path, path, is_dir, ChildStage::kBindExtra);
    rule(path, is_dir ? kReadExecute : landlock::kReadFile | landlock::kExecute, is_dir);
  }

  b.directory("/proc");
  rule("/proc", kReadOnly, true);

  b.directory("/dev");
  for (const char* node : kDeviceNodes) {
    std::string host = std::string("/dev/") + node;
    if (stat(host.c_str(), &st) != 0 || !S_ISCHR(st.st_mode)) continue;
    b.bind(host, host, false, ChildStage::kBindDevice);
    rule(host, kDevice, false);
  }
  b.symlinks.push_back({"/proc/self/fd", "/dev/fd"});
  b.symlinks.push_back({"/proc/self/fd/0", "/dev/stdin"});
  b.symlinks.push_back({"/proc/self/fd/1", "/dev/stdout"});
  b.symlinks.push_back({"/proc/self/fd/2", "/dev/stderr"});
  // POSIX shared memory (shm_open) lives in /dev/shm; the app's is its /tmp.
  b.symlinks.push_back({"/tmp", "/dev/shm"});

  if (!spec.data_dir.empty()) {
    b.directory("/data");
    b.plan.data_source = b.keep("/oldroot" + spec.data_dir);
    rule("/data", kReadWrite, true);
  }
  b.directory("/tmp");
  rule("/tmp", kReadWrite, true);
  return {};
}

ErrorOr<void> validate(const SandboxSpec& spec) {
  if (!valid_app_id(spec.app_id))
    return Error::invalid_argument("sandbox: app id must be 1-64 characters of [a-z0-9._-]");
  if (spec.argv.empty() || spec.argv[0].empty()) return Error::invalid_argument("sandbox: argv is empty");
  for (const std::string* dir : {&spec.package_dir, &spec.data_dir}) {
    if (dir->empty()) continue;
    if (!clean_absolute_path(*dir))
      return Error::invalid_argument("sandbox: package and data directories must be clean absolute paths");
    struct stat st;
    if (stat(dir->c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return Error::not_found("sandbox: the package or data directory does not exist");
  }
  for (const std::string& path : spec.extra_ro_paths) {
    if (!clean_absolute_path(path))
      return Error::invalid_argument("sandbox: extra read-only paths must be clean absolute paths");
    // These places are built by the sandbox; a host path there would shadow
    // them or be shadowed by them.
    for (const char* reserved : {"/proc", "/dev", "/tmp", "/data", "/app", "/etc"})
      if (under(path, reserved))
        return Error::invalid_argument("sandbox: extra read-only paths may not lie under "
                                       "/proc, /dev, /tmp, /data, /app or /etc");
  }
  if (!clean_absolute_path(spec.cwd) && spec.cwd != "/")
    return Error::invalid_argument("sandbox: cwd must be a clean absolute path");
  if (spec.fds.size() > 64) return Error::invalid_argument("sandbox: at most 64 passed descriptors");
  for (const UniqueFd& fd : spec.fds)
    if (!fd || fcntl(fd.get(), F_GETFD) < 0) return Error::invalid_argument("sandbox: a passed descriptor is not open");
  for (const UniqueFd& fd : spec.stdio)
    if (fd && fcntl(fd.get(), F_GETFD) < 0) return Error::invalid_argument("sandbox: a stdio descriptor is not open");
  if (spec.memory_limit_bytes < (1u << 20)) return Error::invalid_argument("sandbox: memory limit below 1 MiB");
  if (spec.pids_limit < 2) return Error::invalid_argument("sandbox: the pids limit must leave room for the reaper");
  return {};
}

void plan_exec(const SandboxSpec& spec, PlanBuilder& b) {
  for (const std::string& arg : spec.argv) b.argv.push_back(b.keep_mutable(arg));
  b.argv.push_back(nullptr);
  std::string_view path = "/usr/local/bin:/usr/bin:/bin";
  for (const std::string& var : spec.env) {
    b.envp.push_back(b.keep_mutable(var));
    if (std::string_view(var).substr(0, 5) == "PATH=") path = std::string_view(var).substr(5);
  }
  b.envp.push_back(nullptr);
  const std::string& program = spec.argv[0];
  if (program.find('/') != std::string::npos) {
    b.exec_candidates.push_back(b.keep(program));
    return;
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find(':', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view dir = path.substr(start, end - start);
    if (!dir.empty() && dir[0] == '/') b.exec_candidates.push_back(b.keep(std::string(dir) + "/" + program));
    start = end + 1;
  }
}

std::atomic<unsigned> g_launch_counter{0};

// A pool's arena must never be inherited by a fork other than its own reaper:
// it is mapped, then marked MADV_DONTFORK, and no clone3 of ours may fall
// between the two (shared: our clones; exclusive: mapping an arena).
std::shared_mutex g_arena_guard;

int send_kill(int pidfd) { return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0)); }

void kill_and_reap(int pidfd) {
  send_kill(pidfd);
  siginfo_t info{};
  while (waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED) != 0 && errno == EINTR) {
  }
}

// Bump allocation in a pooled launch's shared arena: the copy of the plan the
// parked reaper reads.
class ArenaWriter {
 public:
  ArenaWriter(void* base, std::size_t size) : base_(static_cast<char*>(base)), size_(size) {}
  bool failed() const { return failed_; }

  template <typename T>
  std::span<T> array(std::size_t count) {
    if (count == 0) return {};
    void* place = allocate(count * sizeof(T), alignof(T));
    if (!place) return {};
    T* first = static_cast<T*>(place);
    for (std::size_t i = 0; i < count; ++i) new (first + i) T{};
    return {first, count};
  }
  char* bytes(const char* data, std::size_t size) {
    char* place = static_cast<char*>(allocate(size + 1, 1));
    if (!place) return nullptr;
    std::memcpy(place, data, size);
    place[size] = '\0';
    return place;
  }
  char* string(const char* text) { return text ? bytes(text, std::strlen(text)) : nullptr; }
  template <typename T>
  std::span<const T> copy(std::span<const T> from, auto&& copy_one) {
    std::span<T> to = array<T>(from.size());
    if (to.size() != from.size()) return {};
    for (std::size_t i = 0; i < from.size(); ++i) to[i] = copy_one(from[i]);
    return to;
  }

 private:
  void* allocate(std::size_t size, std::size_t align) {
    std::size_t start = (used_ + align - 1) / align * align;
    if (start > size_ || size > size_ - start) {
      failed_ = true;
      return nullptr;
    }
    used_ = start + size;
    return base_ + start;
  }

  char* base_;
  std::size_t size_;
  std::size_t used_ = 0;
  bool failed_ = false;
};

// The launch plan and the descriptors cannot reach a parked reaper through
// memory it shares with us (it is a fork from before the launch), so: a deep
// copy of the plan into its arena, descriptors named by their index in the
// SCM_RIGHTS message that follows (go, error, status, stdio, passed).
ErrorOr<std::vector<int>> copy_plan_to_arena(const ChildPlan& plan, void* arena, std::size_t arena_size) {
  ArenaWriter w(arena, arena_size);
  std::span<ChildPlan> slot = w.array<ChildPlan>(1);
  if (slot.empty()) return Error::internal("sandbox: the pool's arena is too small for a plan");
  ChildPlan& copy = slot[0];
  copy = plan;
  std::vector<int> fds{plan.go_fd, plan.error_fd, plan.status_fd};
  copy.go_fd = 0;
  copy.error_fd = 1;
  copy.status_fd = 2;
  for (int i = 0; i < 3; ++i) {
    if (plan.stdio[i] < 0) continue;
    copy.stdio[i] = static_cast<int>(fds.size());
    fds.push_back(plan.stdio[i]);
  }
  std::span<int> passed = w.array<int>(plan.passed_fds.size());
  for (std::size_t i = 0; i < passed.size(); ++i) {
    passed[i] = static_cast<int>(fds.size());
    fds.push_back(plan.passed_fds[i]);
  }
  copy.passed_fds = passed;
  auto text = [&](const char* s) -> const char* { return w.string(s); };
  auto mutable_text = [&](char* s) -> char* { return w.string(s); };
  copy.directories = w.copy<const char*>(plan.directories, text);
  copy.mountpoint_files = w.copy<const char*>(plan.mountpoint_files, text);
  copy.symlinks = w.copy<detail::Symlink>(
      plan.symlinks, [&](const detail::Symlink& l) { return detail::Symlink{text(l.target), text(l.path)}; });
  copy.binds = w.copy<BindMount>(
      plan.binds, [&](const BindMount& m) { return BindMount{text(m.source), text(m.target), m.stage}; });
  copy.files = w.copy<detail::FileContent>(plan.files, [&](const detail::FileContent& f) {
    return detail::FileContent{text(f.path), w.bytes(f.data, f.size), f.size};
  });
  copy.data_source = text(plan.data_source);
  copy.hostname = w.bytes(plan.hostname, plan.hostname_size);
  copy.landlock_rules = w.copy<detail::LandlockRule>(
      plan.landlock_rules, [&](const detail::LandlockRule& r) { return detail::LandlockRule{text(r.path), r.access}; });
  copy.cwd = text(plan.cwd);
  copy.exec_candidates = w.copy<const char*>(plan.exec_candidates, text);
  copy.argv = w.copy<char*>(plan.argv, mutable_text);
  copy.envp = w.copy<char*>(plan.envp, mutable_text);
  if (plan.seccomp_code) {
    // Built on first use, possibly after the reaper was forked: copy it too.
    std::span<sock_filter> program = w.array<sock_filter>(plan.seccomp_size);
    if (!program.empty()) std::memcpy(program.data(), plan.seccomp_code, program.size_bytes());
    copy.seccomp_code = program.data();
  }
  copy.arena = arena;
  copy.arena_size = arena_size;
  if (w.failed() || fds.size() > static_cast<std::size_t>(detail::kMaxStubFds))
    return Error::invalid_argument("sandbox: the launch plan does not fit the pool's arena");
  return fds;
}

// Hands the plan and the launch's descriptors to a parked reaper.
ErrorOr<void> start_in_stub(detail::Stub& stub, const ChildPlan& plan);

}  // namespace

namespace detail {

// One parked reaper of a LaunchPool: made with all the namespaces, inside its
// own (still unlimited) app cgroup, waiting on `socket`.
struct Stub {
  ~Stub();
  pid_t pid = -1;
  UniqueFd pidfd;
  UniqueFd socket;
  void* arena = nullptr;
  std::size_t arena_size = 0;
  std::unique_ptr<Cgroup> cgroup;
};

Stub::~Stub() {
  if (pidfd) kill_and_reap(pidfd.get());  // never used: it holds nothing of any app
  if (arena) munmap(arena, arena_size);
  // The cgroup, if still ours, goes with its destructor, now that it is empty.
}

}  // namespace detail

namespace {

// Room for the plan of any launch the kernel would exec: argv and environment
// together are limited to well under this (memfd pages are only allocated
// when touched).
constexpr std::size_t kArenaSize = 4u << 20;

ErrorOr<std::unique_ptr<detail::Stub>> make_stub(unsigned number) {
  auto stub = std::make_unique<detail::Stub>();
  detail::CgroupParent parent = TRY(detail::find_cgroup_parent(""));
  stub->cgroup = TRY(detail::Cgroup::create_unlimited(
      parent, "pmos-pool-" + std::to_string(getpid()) + "-" + std::to_string(number)));
  UniqueFd memfd(static_cast<int>(syscall(SYS_memfd_create, "pmos-launch-plan", MFD_CLOEXEC)));
  if (!memfd) return Error::system("sandbox: memfd_create", errno);
  if (ftruncate(memfd.get(), static_cast<off_t>(kArenaSize)) != 0) return Error::system("sandbox: ftruncate", errno);
  {
    std::unique_lock guard(g_arena_guard);
    void* arena = mmap(nullptr, kArenaSize, PROT_READ | PROT_WRITE, MAP_SHARED, memfd.get(), 0);
    if (arena == MAP_FAILED) return Error::system("sandbox: mapping the launch arena", errno);
    stub->arena = arena;
    stub->arena_size = kArenaSize;
    // No other fork of this process (other parked reapers, reapers of
    // ordinary launches) ever sees this arena; its own reaper maps it again
    // from the memfd.
    if (madvise(arena, kArenaSize, MADV_DONTFORK) != 0) return Error::system("sandbox: madvise", errno);
  }
  void* arena = stub->arena;
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return Error::system("sandbox: socketpair", errno);
  UniqueFd ours(pair[0]);
  UniqueFd theirs(pair[1]);

  int pidfd = -1;
  clone_args args{};
  args.flags = CLONE_PIDFD;
  args.pidfd = reinterpret_cast<std::uintptr_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  args.flags |= kNamespaces;
  long child;
  {
    std::shared_lock guard(g_arena_guard);
    child = syscall(SYS_clone3, &args, sizeof args);
    if (child == 0) detail::run_parked_reaper(theirs.get(), memfd.get(), arena, kArenaSize);
  }
  if (child < 0)
    return Error::system("sandbox: clone3 could not create the namespaces (user namespaces disabled?)", errno);
  stub->pid = static_cast<pid_t>(child);
  stub->pidfd = UniqueFd(pidfd);
  stub->socket = std::move(ours);
  // The grace period this pool exists for is paid here, ahead of any launch.
  TRY(stub->cgroup->attach(stub->pid));
  return stub;
}

ErrorOr<void> start_in_stub(detail::Stub& stub, const ChildPlan& plan) {
  std::vector<int> fds = TRY(copy_plan_to_arena(plan, stub.arena, stub.arena_size));
  char byte = 'l';
  if (!send_with_fds(stub.socket.get(), &byte, 1, fds))
    return Error::system("sandbox: handing the launch to a parked reaper", errno);
  return {};
}

}  // namespace

ErrorOr<std::unique_ptr<Sandbox>> Sandbox::launch(const SandboxSpec& spec) {
  return launch_impl(spec, nullptr, false);
}

ErrorOr<std::unique_ptr<Sandbox>> Sandbox::prepare(const SandboxSpec& spec) { return launch_impl(spec, nullptr, true); }

ErrorOr<void> Sandbox::start() {
  if (recyclable_) return start_recycled();
  if (!go_) return Error::invalid_argument("sandbox: not a prepared sandbox, or started already");
  bool sent = send_byte(go_.get(), 's');
  int saved = errno;
  go_.reset();
  auto exec = sent ? await_exec(error_.get()) : ErrorOr<void>(Error::system("sandbox: starting a prepared app", saved));
  error_.reset();
  if (!exec.has_value()) {
    (void)kill();
    (void)wait();
  }
  return exec;
}

ErrorOr<std::unique_ptr<Sandbox>> Sandbox::launch_impl(const SandboxSpec& spec, std::unique_ptr<detail::Stub> stub,
                                                       bool park) {
  TRY(validate(spec));
  const Policy& policy = spec.policy;
  if (spec.recyclable && (!park || stub))
    return Error::invalid_argument("sandbox: only Sandbox::prepare() makes a recyclable sandbox");
  if (spec.recyclable && spec.fds.size() > static_cast<std::size_t>(detail::kMaxPassedFds))
    return Error::invalid_argument("sandbox: too many descriptors for the app");

  // Which layers this launch gets. Decide them all before anything starts,
  // so that a kernel that cannot deliver the policy is refused up front.
  Isolation isolation;
  if (policy.landlock != Requirement::kOff) {
    int abi = landlock::abi_version();
    int needed = policy.min_landlock_abi < 1 ? 1 : policy.min_landlock_abi;
    if (abi >= needed) {
      isolation.landlock_abi = abi;
    } else if (policy.landlock == Requirement::kRequired) {
      return Error::unsupported(abi == 0 ? "sandbox: the policy requires Landlock and the kernel has none"
                                         : "sandbox: the policy requires a newer Landlock ABI than the kernel's");
    }
  }
  const SeccompProgram* seccomp = nullptr;
  if (policy.seccomp != Requirement::kOff) {
    bool available = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0;
    if (available) {
      seccomp = &app_seccomp_program();
      isolation.seccomp = true;
    } else if (policy.seccomp == Requirement::kRequired) {
      return Error::unsupported("sandbox: the policy requires seccomp filters and the kernel has none");
    }
  }
  std::unique_ptr<detail::Cgroup> cgroup;
  bool pooled = false;
  if (policy.cgroup_limits != Requirement::kOff && stub) {
    // The parked reaper's cgroup, empty but for it; the limits are this app's.
    // It stays the stub's until the reaper is ours: on a failure before that,
    // the stub kills its reaper first and removes the cgroup after.
    TRY(stub->cgroup->set_limits(spec.memory_limit_bytes, spec.pids_limit));
    isolation.cgroup = stub->cgroup->version();
    pooled = true;
  } else if (policy.cgroup_limits != Requirement::kOff) {
    auto made = [&]() -> ErrorOr<std::unique_ptr<detail::Cgroup>> {
      detail::CgroupParent parent = TRY(detail::find_cgroup_parent(spec.cgroup_parent));
      std::string name = "pmos-" + spec.app_id + "-" + std::to_string(getpid()) + "-" +
                         std::to_string(g_launch_counter.fetch_add(1));
      return detail::Cgroup::create(parent, name, spec.memory_limit_bytes, spec.pids_limit);
    }();
    if (made.has_value()) {
      cgroup = std::move(made.value());
      isolation.cgroup = cgroup->version();
    } else if (policy.cgroup_limits == Requirement::kRequired) {
      return made.error();
    }
  }

  uid_t host_uid = spec.host_uid.value_or(geteuid());
  if (host_uid == 0)
    return Error::invalid_argument("sandbox: refusing to run an app as host uid 0; set SandboxSpec::host_uid");
  gid_t host_gid = spec.host_gid ? *spec.host_gid : spec.host_uid ? *spec.host_uid : getegid();
  // A launcher that may set any group drops the app's supplementary groups;
  // an unprivileged one must promise the kernel never to (setgroups "deny"),
  // and the app keeps the launcher's groups, unmapped.
  bool privileged = has_capability(CAP_SETGID);

  PlanBuilder b;
  landlock::Handled handled = landlock::handled_for(isolation.landlock_abi);
  TRY(plan_root(spec, b, handled.fs));
  plan_exec(spec, b);
  ChildPlan& plan = b.plan;
  plan.hostname = spec.app_id.c_str();
  plan.hostname_size = spec.app_id.size();
  plan.cwd = spec.cwd.c_str();
  plan.park_before_app = park;
  plan.recyclable = spec.recyclable;
  // A recyclable reaper never holds the app's descriptors: start() sends
  // each launch's to its waiting process.
  if (!spec.recyclable) {
    for (int i = 0; i < 3; ++i) plan.stdio[i] = spec.stdio[i].get();
    for (const UniqueFd& fd : spec.fds) b.passed_fds.push_back(fd.get());
  }
  b.finish();
  plan.drop_supplementary_groups = privileged;
  plan.uid = kAppUid;
  plan.gid = kAppGid;
  plan.landlock_abi = isolation.landlock_abi;
  plan.landlock_fs = handled.fs;
  // TCP is handled with no rule allowing it: inside the app's own network
  // namespace there is nothing to reach anyway, and if that namespace were
  // ever misconfigured, Landlock still refuses every connect and bind.
  plan.landlock_net = handled.net;
  // Signals and abstract UNIX sockets stay within the sandbox (ABI 6), on top
  // of the pid and network namespaces that already separate them.
  plan.landlock_scoped = handled.scoped;
  if (seccomp) {
    plan.seccomp_code = seccomp->code().data();
    plan.seccomp_size = static_cast<unsigned short>(seccomp->code().size());
  }

  std::array<UniqueFd, 2> cgroup_tasks;
  if (cgroup && cgroup->version() == CgroupVersion::kV1) {
    cgroup_tasks = TRY(cgroup->open_tasks_files());
    plan.cgroup_tasks_fds[0] = cgroup_tasks[0].get();
    plan.cgroup_tasks_fds[1] = cgroup_tasks[1].get();
  }
  Pipe go = TRY(make_go_channel());
  Pipe error = TRY(make_pipe());
  Pipe status = TRY(make_pipe());
  plan.go_fd = go.read.get();
  plan.go_parent_end = go.write.get();
  plan.error_fd = error.write.get();
  plan.error_parent_end = error.read.get();
  plan.status_fd = status.write.get();
  plan.status_parent_end = status.read.get();

  pid_t pid;
  UniqueFd owned_pidfd;
  if (pooled) {
    // The reaper already exists, in its namespaces and its cgroup.
    TRY(start_in_stub(*stub, plan));
    pid = stub->pid;
    owned_pidfd = std::move(stub->pidfd);
    cgroup = std::move(stub->cgroup);
  } else {
    int pidfd = -1;
    clone_args args{};
    args.flags = kNamespaces | CLONE_PIDFD;
    args.pidfd = reinterpret_cast<std::uintptr_t>(&pidfd);
    args.exit_signal = SIGCHLD;
    if (cgroup && cgroup->clone_into_fd() >= 0) {
      // The reaper starts inside its cgroup: there is no moment without limits.
      args.flags |= CLONE_INTO_CGROUP;
      args.cgroup = static_cast<std::uint64_t>(cgroup->clone_into_fd());
    }
    long child;
    {
      std::shared_lock guard(g_arena_guard);
      child = syscall(SYS_clone3, &args, sizeof args);
      if (child == 0) detail::run_reaper(plan);
    }
    if (child < 0)
      return Error::system("sandbox: clone3 could not create the namespaces (user namespaces disabled?)", errno);
    pid = static_cast<pid_t>(child);
    owned_pidfd = UniqueFd(pidfd);
  }
  go.read.reset();
  error.write.reset();
  status.write.reset();
  for (UniqueFd& fd : cgroup_tasks) fd.reset();

  // The reaper's own report of why it failed, if it sent one.
  auto reaper_failure = [&]() -> std::optional<Error> {
    struct pollfd ready{error.read.get(), POLLIN, 0};
    if (poll(&ready, 1, 0) != 1 || !(ready.revents & POLLIN)) return std::nullopt;
    detail::ChildFailure failure{};
    if (read(error.read.get(), &failure, sizeof failure) != static_cast<ssize_t>(sizeof failure)) return std::nullopt;
    return Error::system(detail::describe(failure.stage), failure.error);
  };
  // Until the reaper has exec'd the app, any failure kills and reaps it. A
  // failure to reach a reaper that already gave up is reported as its reason.
  auto abandon = [&](Error e) -> Error {
    kill_and_reap(owned_pidfd.get());
    if (std::optional<Error> reason = reaper_failure()) return *reason;
    return e;
  };
  char map[64];
  std::snprintf(map, sizeof map, "%u %u 1\n", kAppUid, host_uid);
  if (auto r = write_proc_file(pid, "uid_map", map); !r.has_value()) return abandon(r.error());
  if (!privileged) {
    if (auto r = write_proc_file(pid, "setgroups", "deny"); !r.has_value()) return abandon(r.error());
  }
  std::snprintf(map, sizeof map, "%u %u 1\n", kAppGid, host_gid);
  if (auto r = write_proc_file(pid, "gid_map", map); !r.has_value()) return abandon(r.error());
  if (!send_byte(go.write.get(), 'g')) return abandon(Error::system("sandbox: starting the reaper", errno));
  if (park) {
    // 'r' once the reaper is confined and parked; EOF if a step failed.
    char ready = 0;
    ssize_t n;
    do {
      n = read(go.write.get(), &ready, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1 || ready != 'r') return abandon(Error::internal("sandbox: the reaper did not get ready"));
    if (spec.recyclable) {
      std::array<UniqueFd, 3> stdio;
      std::vector<UniqueFd> fds;
      for (int i = 0; i < 3; ++i) {
        if (!spec.stdio[i]) continue;
        stdio[i] = UniqueFd(fcntl(spec.stdio[i].get(), F_DUPFD_CLOEXEC, 3));
        if (!stdio[i]) return abandon(Error::system("sandbox: dup", errno));
      }
      for (const UniqueFd& fd : spec.fds) {
        fds.emplace_back(fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
        if (!fds.back()) return abandon(Error::system("sandbox: dup", errno));
      }
      std::unique_ptr<Sandbox> box(
          new Sandbox(pid, std::move(owned_pidfd), std::move(go.write), std::move(cgroup), isolation));
      box->recyclable_ = true;
      box->parked_ = true;
      box->next_stdio_ = std::move(stdio);
      box->next_fds_ = std::move(fds);
      if (box->cgroup_) box->oom_kills_before_ = box->cgroup_->oom_kills();
      return box;
    }
    std::unique_ptr<Sandbox> box(
        new Sandbox(pid, std::move(owned_pidfd), std::move(status.read), std::move(cgroup), isolation));
    box->go_ = std::move(go.write);
    box->error_ = std::move(error.read);
    return box;
  }
  go.write.reset();
  if (auto exec = await_exec(error.read.get()); !exec.has_value()) return abandon(exec.error());
  return std::unique_ptr<Sandbox>(
      new Sandbox(pid, std::move(owned_pidfd), std::move(status.read), std::move(cgroup), isolation));
}

Sandbox::Sandbox(pid_t pid, UniqueFd pidfd, UniqueFd status_fd, std::unique_ptr<detail::Cgroup> cgroup,
                 Isolation isolation)
    : pid_(pid), pidfd_(std::move(pidfd)), status_fd_(std::move(status_fd)), cgroup_(std::move(cgroup)),
      isolation_(isolation) {}

Sandbox::~Sandbox() {
  if (reaped_) return;
  (void)kill();
  (void)wait();
}

ErrorOr<void> Sandbox::kill() {
  // Killing pid 1 of the namespace takes every process in it. The pidfd stays
  // open until destruction, so this is safe while another thread waits: once
  // the reaper is reaped the signal just finds no one (ESRCH).
  if (send_kill(pidfd_.get()) != 0 && errno != ESRCH) return Error::system("sandbox: pidfd_send_signal", errno);
  return {};
}

namespace {

ExitStatus from_wait_status(int status) {
  if (WIFSIGNALED(status)) return {ExitStatus::Kind::kSignaled, WTERMSIG(status)};
  return {ExitStatus::Kind::kExited, WEXITSTATUS(status)};
}

}  // namespace

ErrorOr<ExitStatus> Sandbox::wait_app() {
  if (exit_status_) return *exit_status_;
  // Parked, the app would never exit: the caller meant start() first.
  if (go_ || parked_) return Error::invalid_argument("sandbox: a prepared sandbox has to be started before its app can end");
  // The reaper writes the app's wait status the moment it reaps the app,
  // before it exits; its exit then takes the namespaces down (the mount
  // namespace waits for an RCU grace period), which the caller need not wait
  // for. EOF: the reaper died without reporting (its write end closes when
  // it dies, and nothing else holds one: the app's copy closed at its exec).
  int status = 0;
  ssize_t n;
  do {
    n = read(status_fd_.get(), &status, sizeof status);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof status)) return wait();
  ExitStatus result = from_wait_status(status);
  // The OOM killer acts before the process it kills is reaped, so whatever it
  // did to the tree by the app's end is counted by now.
  if (cgroup_) result.memory_limit_hit = cgroup_->oom_kills() > oom_kills_before_;
  exit_status_ = result;
  return result;
}

ErrorOr<std::optional<ExitStatus>> Sandbox::wait_app_for(std::chrono::milliseconds timeout) {
  if (exit_status_) return exit_status_;
  if (go_ || parked_) return Error::invalid_argument("sandbox: a prepared sandbox has to be started before its app can end");
  // The status, or EOF from a reaper that died without writing it, makes the
  // pipe readable; wait_app() then tells which.
  struct pollfd ready{status_fd_.get(), POLLIN, 0};
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    int n = poll(&ready, 1, static_cast<int>(std::max<std::chrono::milliseconds::rep>(left.count(), 0)));
    if (n > 0) break;
    if (n == 0) return std::optional<ExitStatus>();
    if (errno != EINTR) return Error::system("sandbox: poll", errno);
  }
  return std::optional<ExitStatus>(TRY(wait_app()));
}

ErrorOr<ExitStatus> Sandbox::wait() {
  if (reaped_) return *exit_status_;
  if (recyclable_) {
    // Its reaper would wait for the next launch: the app's status (if it was
    // started and the reaper reports one), then the end of the sandbox.
    if (!exit_status_ && !parked_) {
      int status = 0;
      ssize_t n;
      do {
        n = read(status_fd_.get(), &status, sizeof status);
      } while (n < 0 && errno == EINTR);
      if (n == static_cast<ssize_t>(sizeof status)) {
        ExitStatus result = from_wait_status(status);
        if (cgroup_) result.memory_limit_hit = cgroup_->oom_kills() > oom_kills_before_;
        exit_status_ = result;
      }
    }
    (void)kill();
  }
  siginfo_t info{};
  while (waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED) != 0) {
    if (errno != EINTR) return Error::system("sandbox: waitid", errno);
  }
  if (!exit_status_) {
    ExitStatus result;
    int status = 0;
    // The reaper wrote the app's own status just before exiting; without it
    // (killed from outside, or by the OOM killer) the reaper's status is the app's.
    if (read(status_fd_.get(), &status, sizeof status) == static_cast<ssize_t>(sizeof status)) {
      result = from_wait_status(status);
    } else if (info.si_code == CLD_EXITED) {
      result = {ExitStatus::Kind::kExited, info.si_status};
    } else {
      result = {ExitStatus::Kind::kSignaled, info.si_status};
    }
    if (cgroup_) result.memory_limit_hit = cgroup_->oom_kills() > oom_kills_before_;
    exit_status_ = result;
  }
  cgroup_.reset();  // every process is gone: the directories can go too
  status_fd_.reset();
  reaped_ = true;
  return *exit_status_;
}

ErrorOr<void> Sandbox::start_recycled() {
  if (!parked_) return Error::invalid_argument("sandbox: not a prepared sandbox, or started already");
  Pipe error = TRY(make_pipe());
  detail::LaunchMessage header;
  std::vector<int> fds{error.write.get()};
  for (int i = 0; i < 3; ++i) {
    if (!next_stdio_[i]) continue;
    header.stdio_mask = static_cast<std::uint8_t>(header.stdio_mask | (1u << i));
    fds.push_back(next_stdio_[i].get());
  }
  for (const UniqueFd& fd : next_fds_) fds.push_back(fd.get());
  header.passed_count = static_cast<std::uint8_t>(next_fds_.size());
  // The waiting process alone reads this end (the reaper only writes to it).
  bool sent = send_with_fds(status_fd_.get(), &header, sizeof header, fds);
  int saved = errno;
  parked_ = false;
  ++launches_;
  // The app holds them now; ours must close, so that the broker sees EOF
  // when the app is gone.
  for (UniqueFd& fd : next_stdio_) fd.reset();
  next_fds_.clear();
  error.write.reset();
  auto exec = sent ? await_exec(error.read.get()) : ErrorOr<void>(Error::system("sandbox: starting a prepared app", saved));
  if (!exec.has_value()) (void)wait();  // ends the sandbox
  return exec;
}

namespace {

// /tmp of the sandbox, seen from outside through the reaper's root: empty.
ErrorOr<void> expect_empty_tmp(pid_t reaper) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/root/tmp", static_cast<int>(reaper));
  UniqueFd dir(open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) return Error::system("sandbox: opening the recycled sandbox's /tmp from outside", errno);
  alignas(8) char buffer[1024];
  long n = syscall(SYS_getdents64, dir.get(), buffer, sizeof buffer);
  if (n < 0) return Error::system("sandbox: listing the recycled sandbox's /tmp", errno);
  for (long at = 0; at < n;) {
    unsigned short length;
    std::memcpy(&length, buffer + at + 16, sizeof length);
    std::string_view name(buffer + at + 19);
    at += length;
    if (name != "." && name != "..") return Error::internal("sandbox: the recycled sandbox's /tmp is not empty");
  }
  return {};
}

}  // namespace

ErrorOr<void> Sandbox::recycle(std::array<UniqueFd, 3> stdio, std::vector<UniqueFd> fds,
                               std::chrono::milliseconds timeout) {
  if (!recyclable_ || reaped_ || parked_ || !exit_status_)
    return Error::invalid_argument("sandbox: only a recyclable sandbox whose app has ended can be recycled");
  // Nothing to check from outside without a cgroup: no reuse on the reaper's word.
  if (!cgroup_) return Error::unsupported("sandbox: recycling needs the sandbox's cgroup");
  if (fds.size() > static_cast<std::size_t>(detail::kMaxPassedFds))
    return Error::invalid_argument("sandbox: too many descriptors for the app");
  struct pollfd ready{status_fd_.get(), POLLIN, 0};
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    int n = poll(&ready, 1, static_cast<int>(std::max<std::chrono::milliseconds::rep>(left.count(), 0)));
    if (n > 0) break;
    if (n == 0) return Error::internal("sandbox: the reaper did not reset the sandbox in time");
    if (errno != EINTR) return Error::system("sandbox: poll", errno);
  }
  char byte = 0;
  ssize_t got;
  do {
    got = read(status_fd_.get(), &byte, 1);
  } while (got < 0 && errno == EINTR);
  if (got != 1 || byte != detail::kReadyByte)
    return Error::internal("sandbox: the reaper could not reset the sandbox (it exits instead)");
  TRY(cgroup_->expect_reaper_and_one_child(pid_));
  TRY(expect_empty_tmp(pid_));
  oom_kills_before_ = cgroup_->oom_kills();
  exit_status_.reset();
  next_stdio_ = std::move(stdio);
  next_fds_ = std::move(fds);
  parked_ = true;
  return {};
}

ErrorOr<std::unique_ptr<LaunchPool>> LaunchPool::create(std::size_t size) {
  detail::CgroupParent parent = TRY(detail::find_cgroup_parent(""));
  if (parent.version != CgroupVersion::kV1)
    return Error::unsupported("sandbox: the launch pool is for cgroup v1 (on v2 the reaper is born in its cgroup)");
  std::unique_ptr<LaunchPool> pool(new LaunchPool(size));
  pool->thread_ = std::thread([p = pool.get()] { p->refill_loop(); });
  return pool;
}

LaunchPool::LaunchPool(std::size_t size) : size_(size) {}

LaunchPool::~LaunchPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
  stubs_.clear();
}

void LaunchPool::refill_loop() {
  unsigned number = 0;
  std::chrono::seconds backoff(1);
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (stubs_.size() >= size_) {
      changed_.wait(lock);
      // Refill once the launch that took one is done, not while it competes
      // with us for the CPU (making one costs about what a launch does).
      changed_.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping_; });
      continue;
    }
    lock.unlock();
    auto stub = make_stub(number++);
    lock.lock();
    if (stub.has_value()) {
      stubs_.push_back(std::move(*stub));
      backoff = std::chrono::seconds(1);
      changed_.notify_all();
    } else {
      // E.g. no right to make cgroups: launches fall back to the ordinary
      // path, which reports the reason. Try again later, less and less often.
      changed_.wait_for(lock, backoff, [&] { return stopping_; });
      backoff = std::min(backoff * 2, std::chrono::seconds(64));
    }
  }
}

std::unique_ptr<detail::Stub> LaunchPool::take_stub(const SandboxSpec& spec) {
  if (spec.policy.cgroup_limits == Requirement::kOff || !spec.cgroup_parent.empty()) return nullptr;
  std::lock_guard lock(mutex_);
  if (stubs_.empty()) return nullptr;
  std::unique_ptr<detail::Stub> stub = std::move(stubs_.front());
  stubs_.pop_front();
  changed_.notify_all();
  return stub;
}

ErrorOr<std::unique_ptr<Sandbox>> LaunchPool::launch(const SandboxSpec& spec) {
  return Sandbox::launch_impl(spec, take_stub(spec), false);
}

ErrorOr<std::unique_ptr<Sandbox>> LaunchPool::prepare(const SandboxSpec& spec) {
  return Sandbox::launch_impl(spec, take_stub(spec), true);
}

bool LaunchPool::wait_until_full(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return stubs_.size() >= size_; });
}

std::size_t LaunchPool::ready() const {
  std::lock_guard lock(mutex_);
  return stubs_.size();
}

}  // namespace pmos::sandbox

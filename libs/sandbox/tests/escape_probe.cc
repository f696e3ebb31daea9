// Runs inside a sandbox (sandbox_test.cc): makes one escape attempt, or one
// check of what the app should be able to do.
//
//   escape_probe ATTEMPT [ARGS...]
// Escape attempts exit 0 if the attempt was BLOCKED and 1 if it SUCCEEDED
// (being killed by SIGSYS also counts as blocked). Checks ("check_*") exit 0
// if the app can do what it should and 1 if not. 2: bad usage.
// Deliberately plain C-style code: it must behave the same under ASan.

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dirent.h>
#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr int kBlocked = 0;
constexpr int kEscaped = 1;
constexpr int kOk = 0;
constexpr int kFailed = 1;

int blocked_unless(bool succeeded, const char* what) {
  if (succeeded) {
    std::fprintf(stderr, "escape_probe: %s SUCCEEDED\n", what);
    return kEscaped;
  }
  std::fprintf(stderr, "escape_probe: %s blocked: %s\n", what, std::strerror(errno));
  return kBlocked;
}

int ok_if(bool ok, const char* what) {
  if (!ok) std::fprintf(stderr, "escape_probe: check %s FAILED: %s\n", what, std::strerror(errno));
  return ok ? kOk : kFailed;
}

int attempt_ptrace(pid_t pid) {
  long r = ptrace(PTRACE_ATTACH, pid, nullptr, nullptr);
  if (r == 0) ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
  return blocked_unless(r == 0, "ptrace(PTRACE_ATTACH)");
}

int attempt_mount() {
  return blocked_unless(mount("none", "/tmp", "tmpfs", 0, nullptr) == 0, "mount(tmpfs)");
}

int attempt_unshare() {
  // Any one of these would be a foothold: a user namespace gives capabilities
  // over new mount and network namespaces.
  for (int flag : {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWPID}) {
    if (unshare(flag) == 0) return blocked_unless(true, "unshare");
  }
  long child = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (child == 0) _exit(0);
  if (child > 0) {
    waitpid(static_cast<pid_t>(child), nullptr, 0);
    return blocked_unless(true, "clone(CLONE_NEWUSER)");
  }
  return blocked_unless(false, "unshare and clone with namespace flags");
}

int attempt_setns() {
  int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return blocked_unless(false, "open /proc/self/ns/net");
  return blocked_unless(setns(fd, 0) == 0, "setns");
}

int attempt_keyctl() {
  long id = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0);
  return blocked_unless(id >= 0, "keyctl(KEYCTL_GET_KEYRING_ID)");
}

int attempt_bpf() {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = 1;
  long fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
  return blocked_unless(fd >= 0, "bpf(BPF_MAP_CREATE)");
}

int attempt_raw_socket() {
  struct {
    int domain, type, protocol;
    const char* name;
  } const kinds[] = {
      {AF_INET, SOCK_RAW, IPPROTO_ICMP, "socket(AF_INET, SOCK_RAW)"},
      {AF_INET6, SOCK_RAW, IPPROTO_ICMPV6, "socket(AF_INET6, SOCK_RAW)"},
      {AF_PACKET, SOCK_RAW, htons(3 /* ETH_P_ALL */), "socket(AF_PACKET, SOCK_RAW)"},
      {AF_PACKET, SOCK_DGRAM, htons(3), "socket(AF_PACKET, SOCK_DGRAM)"},
  };
  for (const auto& kind : kinds) {
    int fd = socket(kind.domain, kind.type | SOCK_CLOEXEC, kind.protocol);
    if (fd >= 0) return blocked_unless(true, kind.name);
  }
  return blocked_unless(false, "raw and packet sockets");
}

int attempt_connect_tcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return blocked_unless(false, "socket(AF_INET, SOCK_STREAM)");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return blocked_unless(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0,
                        "connect(127.0.0.1)");
}

int attempt_abstract_unix(const char* name) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return blocked_unless(false, "socket(AF_UNIX)");
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::size_t length = std::strlen(name);
  std::memcpy(address.sun_path + 1, name, length);  // sun_path[0] == 0: abstract
  socklen_t size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + length);
  return blocked_unless(connect(fd, reinterpret_cast<sockaddr*>(&address), size) == 0,
                        "connect(abstract UNIX socket)");
}

int attempt_read(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  char byte;
  return blocked_unless(fd >= 0 && read(fd, &byte, 1) >= 0, "open+read");
}

int attempt_write(const char* path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  return blocked_unless(fd >= 0 && write(fd, "x", 1) == 1, "open+write");
}

int attempt_openat(int dirfd, const char* name) {
  int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
  char byte;
  return blocked_unless(fd >= 0 && read(fd, &byte, 1) >= 0, "openat through a passed directory");
}

int attempt_kill(pid_t pid) { return blocked_unless(kill(pid, 0) == 0, "kill(outside pid, 0)"); }

int attempt_fork_bomb(int count) {
  for (int i = 0; i < count; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      pause();
      _exit(0);
    }
    if (pid < 0) {
      std::fprintf(stderr, "escape_probe: fork %d of %d refused\n", i + 1, count);
      return blocked_unless(false, "fork bomb");
    }
  }
  // The children die with the sandbox's pid namespace.
  return blocked_unless(true, "fork bomb");
}

int attempt_memory(long mebibytes) {
  std::size_t size = static_cast<std::size_t>(mebibytes) << 20;
  void* memory = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return blocked_unless(false, "mmap");
  // Touch every page so that it is really charged.
  for (std::size_t offset = 0; offset < size; offset += 4096) static_cast<volatile char*>(memory)[offset] = 1;
  return blocked_unless(true, "allocating and touching memory");
}

bool status_field_is(const std::string& status, const char* field, const char* value) {
  std::size_t at = status.find(std::string("\n") + field + ":");
  if (at == std::string::npos) return false;
  std::size_t start = status.find_first_not_of(" \t", at + std::strlen(field) + 2);
  std::size_t end = status.find('\n', start);
  bool same = status.substr(start, end - start) == value;
  if (!same) std::fprintf(stderr, "escape_probe: %s is %s\n", field, status.substr(start, end - start).c_str());
  return same;
}

int check_confined() {
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ok_if(false, "open /proc/self/status");
  std::string status(8192, '\0');
  ssize_t n = read(fd, status.data(), status.size());
  status.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  bool ok = getuid() == 1000 && getgid() == 1000;
  if (!ok) std::fprintf(stderr, "escape_probe: uid %u gid %u\n", getuid(), getgid());
  for (const char* cap : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"})
    ok = status_field_is(status, cap, "0000000000000000") && ok;
  ok = status_field_is(status, "NoNewPrivs", "1") && ok;
  ok = status_field_is(status, "Seccomp", "2") && ok;
  // The app is pid 2: the reaper is pid 1 of the app's own namespace.
  ok = getpid() == 2 && getppid() == 1 && ok;
  return ok_if(ok, "confined (ids, capabilities, no_new_privs, seccomp, pid namespace)");
}

int check_writable() {
  for (const char* path : {"/data/probe-file", "/tmp/probe-file"}) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, "hello", 5) != 5) return ok_if(false, path);
    char buffer[5];
    if (pread(fd, buffer, 5, 0) != 5 || std::memcmp(buffer, "hello", 5) != 0) return ok_if(false, path);
    close(fd);
  }
  return kOk;
}

int check_readable(const char* path, const char* expected) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  char buffer[256] = {};
  ssize_t n = fd >= 0 ? read(fd, buffer, sizeof buffer - 1) : -1;
  return ok_if(n >= 0 && std::strcmp(buffer, expected) == 0, "reading a package file");
}

// The passed descriptor works, and it is the only one besides stdio.
int check_fds(int fd, const char* message) {
  if (write(fd, message, std::strlen(message)) != static_cast<ssize_t>(std::strlen(message)))
    return ok_if(false, "writing to the passed descriptor");
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return ok_if(false, "opendir /proc/self/fd");
  int listing = dirfd(dir);
  bool ok = true;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    int n = std::atoi(entry->d_name);
    if (n <= 2 || n == fd || n == listing) continue;
    std::fprintf(stderr, "escape_probe: unexpected descriptor %d\n", n);
    ok = false;
  }
  closedir(dir);
  return ok_if(ok, "no descriptors but stdio and the passed one");
}

int check_loopback() {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0)
    return ok_if(false, "binding UDP on loopback");
  if (sendto(fd, "ping", 4, 0, reinterpret_cast<sockaddr*>(&address), size) != 4)
    return ok_if(false, "sending on loopback");
  char buffer[4];
  return ok_if(recv(fd, buffer, 4, 0) == 4, "receiving on loopback");
}


// --- A recycled sandbox (sandbox_test.cc, RecycledSandboxTest): run N tries
// to reach the reaper and leaves things behind; run N+1 must find none.

// pid 1 is the reaper, which outlives this app: none of these may work.
int attempt_poke_reaper() {
  bool reached = false;
  int mem = open("/proc/1/mem", O_RDWR | O_CLOEXEC);
  if (mem >= 0) {
    std::fprintf(stderr, "escape_probe: opened /proc/1/mem\n");
    reached = true;
    close(mem);
  }
  if (ptrace(PTRACE_ATTACH, 1, nullptr, nullptr) == 0) {
    std::fprintf(stderr, "escape_probe: ptrace attached to pid 1\n");
    reached = true;
  }
  char byte = 0;
  iovec local{&byte, 1};
  iovec remote{reinterpret_cast<void*>(0x10000), 1};
  if (process_vm_writev(1, &local, 1, &remote, 1, 0) >= 0 || errno == EFAULT) {
    std::fprintf(stderr, "escape_probe: process_vm_writev reached pid 1\n");
    reached = true;
  }
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, 1, 0));
  if (pidfd >= 0) {
    for (int fd = 0; fd < 16; ++fd) {
      int stolen = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0));
      if (stolen >= 0) {
        std::fprintf(stderr, "escape_probe: took descriptor %d of pid 1\n", fd);
        reached = true;
      }
    }
  }
  // Accepted by the kernel and dropped: pid 1 of a namespace has no handler
  // for them. The test checks that the reaper is alive afterwards.
  kill(1, SIGSTOP);
  kill(1, SIGTERM);
  kill(1, SIGKILL);
  return blocked_unless(reached, "reaching the reaper (pid 1)");
}

// Lowers a limit of pid 1 (allowed: same uid). The reaper must not pass it on.
int tamper_with_reaper() {
  rlimit low{64, 64};
  return ok_if(prlimit(1, RLIMIT_NOFILE, &low, nullptr) == 0, "lowering pid 1's RLIMIT_NOFILE");
}

bool make_file(const char* path, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return false;
  bool ok = write(fd, "left", 4) == 4;
  close(fd);
  return ok;
}

// Files, locked and deep directories in /tmp, IPC objects of every kind, and
// a process that detaches itself and keeps writing /data/beat.
int leave_behind() {
  bool ok = make_file("/tmp/plain", 0600) && mkdir("/tmp/locked", 0700) == 0 &&
            make_file("/tmp/locked/inside", 0000) && chmod("/tmp/locked", 0000) == 0 &&
            symlink("/data", "/tmp/link") == 0 && mkfifo("/tmp/fifo", 0600) == 0;
  char path[4096] = "/tmp/deep";
  for (int i = 0; ok && i < 20; ++i) {
    ok = mkdir(path, 0700) == 0;
    std::strcat(path, "/d");
  }
  for (int i = 0; ok && i < 200; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "/tmp/many-%d", i);
    ok = make_file(name, 0600);
  }
  if (!ok) return ok_if(false, "leaving files in /tmp");
  int shm = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
  int sem = semget(IPC_PRIVATE, 1, IPC_CREAT | 0000);
  int msg = msgget(IPC_PRIVATE, IPC_CREAT | 0000);
  if (shm < 0 || sem < 0 || msg < 0) return ok_if(false, "making System V IPC objects");
  // Attached: the segment outlives this process only as long as the
  // leftover below holds it.
  if (shmat(shm, nullptr, SHM_RDONLY) == reinterpret_cast<void*>(-1)) return ok_if(false, "shmat");
  shmid_ds locked{};
  if (shmctl(shm, IPC_STAT, &locked) != 0) return ok_if(false, "shmctl IPC_STAT");
  locked.shm_perm.mode = 0;
  if (shmctl(shm, IPC_SET, &locked) != 0) return ok_if(false, "shmctl IPC_SET");
  // The sandbox may refuse POSIX queues altogether (this kernel: EACCES on
  // creation); if one is made, the next launch must not find it.
  int queue = static_cast<int>(syscall(SYS_mq_open, "pmos-left", O_RDWR | O_CREAT | O_CLOEXEC, 0600, nullptr));
  if (queue >= 0 && fchmod(queue, 0) != 0) return ok_if(false, "fchmod of a POSIX queue");
  if (queue < 0 && errno != EACCES) return ok_if(false, "mq_open");
  pid_t first = fork();
  if (first < 0) return ok_if(false, "fork");
  if (first == 0) {
    setsid();
    if (fork() != 0) _exit(0);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    for (unsigned beat = 0;; ++beat) {
      int fd = open("/data/beat", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd >= 0) {
        char text[32];
        int n = std::snprintf(text, sizeof text, "%u", beat);
        (void)!write(fd, text, static_cast<std::size_t>(n));
        close(fd);
      }
      usleep(5000);
    }
  }
  int status = 0;
  waitpid(first, &status, 0);
  usleep(30000);  // the leftover has written its first beats
  return kOk;
}

// What a launch after leave_behind must see: an empty /tmp with its mode, no
// process but itself and the reaper, no IPC object.
int check_clean() {
  bool ok = true;
  struct stat st{};
  if (stat("/tmp", &st) != 0 || (st.st_mode & 07777) != 01777) {
    std::fprintf(stderr, "escape_probe: /tmp mode %o\n", st.st_mode & 07777);
    ok = false;
  }
  for (const char* dir_path : {"/tmp", "/proc"}) {
    DIR* dir = opendir(dir_path);
    if (!dir) return ok_if(false, "opendir");
    while (dirent* entry = readdir(dir)) {
      std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      if (std::string(dir_path) == "/proc") {
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        int pid = std::atoi(name.c_str());
        if (pid == 1 || pid == getpid()) continue;
      }
      std::fprintf(stderr, "escape_probe: left over: %s/%s\n", dir_path, name.c_str());
      ok = false;
    }
    closedir(dir);
  }
  shm_info shm{};
  seminfo sem{};
  msginfo msg{};
  if (shmctl(0, SHM_INFO, reinterpret_cast<shmid_ds*>(&shm)) < 0 || shm.used_ids != 0) {
    std::fprintf(stderr, "escape_probe: %d shared memory segments left\n", shm.used_ids);
    ok = false;
  }
  if (semctl(0, 0, SEM_INFO, &sem) < 0 || sem.semusz != 0) {
    std::fprintf(stderr, "escape_probe: %d semaphore sets left\n", sem.semusz);
    ok = false;
  }
  if (msgctl(0, MSG_INFO, reinterpret_cast<msqid_ds*>(&msg)) < 0 || msg.msgpool != 0) {
    std::fprintf(stderr, "escape_probe: %d message queues left\n", msg.msgpool);
    ok = false;
  }
  int queue = static_cast<int>(syscall(SYS_mq_open, "pmos-left", O_RDONLY | O_CLOEXEC, 0, nullptr));
  if (queue >= 0 || errno != ENOENT) {
    std::fprintf(stderr, "escape_probe: the POSIX message queue is left\n");
    ok = false;
  }
  return ok_if(ok, "nothing left of the last launch");
}

int dispatch(int argc, char** argv);

// The command comes on stdin, one line: a recycled sandbox runs the same
// argv every time, with new descriptors.
int from_stdin() {
  char line[512] = {};
  ssize_t n = read(0, line, sizeof line - 1);
  if (n <= 0) return 2;
  char* words[8] = {nullptr};
  int count = 1;
  char* save = nullptr;
  for (char* word = strtok_r(line, " \n", &save); word && count < 7; word = strtok_r(nullptr, " \n", &save))
    words[count++] = word;
  return dispatch(count, words);
}

}  // namespace

int main(int argc, char** argv) { return dispatch(argc, argv); }

namespace {

int dispatch(int argc, char** argv) {
  if (argc < 2) return 2;
  std::string what = argv[1];
  const char* arg = argc > 2 ? argv[2] : "";
  const char* arg2 = argc > 3 ? argv[3] : "";
  if (what == "ptrace") return attempt_ptrace(std::atoi(arg));
  if (what == "mount") return attempt_mount();
  if (what == "unshare") return attempt_unshare();
  if (what == "setns") return attempt_setns();
  if (what == "keyctl") return attempt_keyctl();
  if (what == "bpf") return attempt_bpf();
  if (what == "raw_socket") return attempt_raw_socket();
  if (what == "connect_tcp") return attempt_connect_tcp(std::atoi(arg));
  if (what == "abstract_unix") return attempt_abstract_unix(arg);
  if (what == "read") return attempt_read(arg);
  if (what == "write") return attempt_write(arg);
  if (what == "openat") return attempt_openat(std::atoi(arg), arg2);
  if (what == "kill") return attempt_kill(std::atoi(arg));
  if (what == "fork_bomb") return attempt_fork_bomb(std::atoi(arg));
  if (what == "memory") return attempt_memory(std::atol(arg));
  if (what == "check_confined") return check_confined();
  if (what == "check_writable") return check_writable();
  if (what == "check_readable") return check_readable(arg, arg2);
  if (what == "check_fds") return check_fds(std::atoi(arg), arg2);
  if (what == "check_loopback") return check_loopback();
  if (what == "poke_reaper") return attempt_poke_reaper();
  if (what == "tamper_with_reaper") return tamper_with_reaper();
  if (what == "leave_behind") return leave_behind();
  if (what == "check_clean") return check_clean();
  if (what == "from_stdin") return from_stdin();
  return 2;
}

}  // namespace

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
#include <sys/mount.h>
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

}  // namespace

int main(int argc, char** argv) {
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
  return 2;
}

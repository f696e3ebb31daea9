// pmos-launch without a C library (x86-64 Linux): the same command as
// pmos_launch.cc, built where the target allows it. Why: glibc's start-up,
// even linked statically, probes the CPU with `cpuid`, which traps to the
// hypervisor on a VM (3.7 us each here) and took 0.31 ms of a 0.46 ms start,
// a sixth of a whole prepared launch (docs/benchmarks.md, 2026-11-25). This
// one makes ten system calls and exits. The wire format is control_wire.h,
// checked against the codec by control_wire_test and control_wire_fuzz.
//   pmos-launch [--socket PATH] APP_ID
// Exit status: the app's (0-255), 1 if pmosd refused or could not be
// reached, 2 for a usage error.

#include <cstddef>
#include <cstdint>

#include "pmos/device/control_wire.h"

namespace {

namespace wire = pmos::device::control_wire;

// System call numbers and constants of x86-64 Linux (no libc headers here).
constexpr long kRead = 0, kWrite = 1, kClose = 3, kMmap = 9, kSocket = 41, kConnect = 42, kExitGroup = 231;
constexpr long kAfUnix = 1, kSockStream = 1, kSockCloexec = 02000000;
constexpr long kProtRead = 1, kProtWrite = 2, kMapPrivate = 2, kMapAnonymous = 0x20;
constexpr long kEintr = 4;

long sys(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  long ret;
  register long r10 asm("r10") = d;
  register long r8 asm("r8") = e;
  register long r9 asm("r9") = f;
  asm volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
  return ret;
}

std::size_t length_of(const char* s) {
  std::size_t n = 0;
  while (s[n]) ++n;
  return n;
}

bool starts_with(const char* s, const char* prefix) {
  for (; *prefix; ++s, ++prefix)
    if (*s != *prefix) return false;
  return true;
}

void put(const char* text, std::size_t size) {
  while (size > 0) {
    long n = sys(kWrite, 2, reinterpret_cast<long>(text), static_cast<long>(size));
    if (n == -kEintr) continue;
    if (n <= 0) return;
    text += n;
    size -= static_cast<std::size_t>(n);
  }
}
void put(const char* text) { put(text, length_of(text)); }

void put_number(unsigned long value) {
  char digits[24];
  int at = sizeof digits;
  do {
    digits[--at] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  put(digits + at, sizeof digits - static_cast<std::size_t>(at));
}

// The errors a user can act on, by name; the rest by number.
const char* error_name(long error) {
  switch (error) {
    case 2: return "No such file or directory";
    case 13: return "Permission denied";
    case 104: return "Connection reset by peer";
    case 111: return "Connection refused";
    default: return nullptr;
  }
}

[[noreturn]] void exit_with(int code) {
  for (;;) sys(kExitGroup, code);
}

[[noreturn]] void usage() {
  put("usage: pmos-launch [--socket PATH] APP_ID   (default $PMOS_SOCKET or /run/pmos/pmosd.sock)\n");
  exit_with(2);
}

[[noreturn]] void cannot_talk(const char* socket_path, const char* what, long error) {
  put("pmos-launch: cannot talk to pmosd at ");
  put(socket_path);
  put(": ");
  put(what);
  if (error != 0) {
    put(": ");
    if (const char* name = error_name(error)) {
      put(name);
    } else {
      put("errno ");
      put_number(static_cast<unsigned long>(error));
    }
  }
  put("\n");
  exit_with(1);
}

// Reads exactly `size` bytes; false at EOF first.
bool read_exact(int fd, std::uint8_t* out, std::size_t size, long* error) {
  while (size > 0) {
    long n = sys(kRead, fd, reinterpret_cast<long>(out), static_cast<long>(size));
    if (n == -kEintr) continue;
    if (n < 0) {
      *error = -n;
      return false;
    }
    if (n == 0) return false;
    out += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

struct SockaddrUn {
  std::uint16_t family;
  char path[108];
};

[[noreturn]] void run(int argc, char** argv, char** envp) {
  const char* socket_path = "/run/pmos/pmosd.sock";
  for (char** e = envp; *e; ++e)
    if (starts_with(*e, "PMOS_SOCKET=")) socket_path = *e + 12;
  const char* app_id = nullptr;
  for (int i = 1; i < argc; ++i) {
    const char* arg = argv[i];
    if (starts_with(arg, "--socket") && arg[8] == '\0' && i + 1 < argc) {
      socket_path = argv[++i];
    } else if (arg[0] != '-' && app_id == nullptr) {
      app_id = arg;
    } else {
      usage();
    }
  }
  if (app_id == nullptr) usage();

  std::uint8_t request[wire::kMaxRunRequestFrame];
  std::size_t request_size = wire::encode_run_request(app_id, length_of(app_id), request);
  if (request_size == 0) {
    put("pmos-launch: the app id is too long\n");
    exit_with(2);
  }
  SockaddrUn address{};
  address.family = static_cast<std::uint16_t>(kAfUnix);
  std::size_t path_size = length_of(socket_path);
  if (path_size >= sizeof address.path) cannot_talk(socket_path, "socket path too long", 0);
  for (std::size_t i = 0; i < path_size; ++i) address.path[i] = socket_path[i];

  long fd = sys(kSocket, kAfUnix, kSockStream | kSockCloexec, 0);
  if (fd < 0) cannot_talk(socket_path, "socket", -fd);
  long rc;
  do {
    rc = sys(kConnect, fd, reinterpret_cast<long>(&address), static_cast<long>(sizeof address));
  } while (rc == -kEintr);
  if (rc < 0) cannot_talk(socket_path, "connect", -rc);
  // One write: pmosd reads the frame as it comes. A refusal before reading
  // (wrong peer uid) still leaves its answer to read, so a failed write is
  // only an error if no answer follows.
  std::size_t sent = 0;
  long send_error = 0;
  while (sent < request_size) {
    long n = sys(kWrite, fd, reinterpret_cast<long>(request + sent), static_cast<long>(request_size - sent));
    if (n == -kEintr) continue;
    if (n <= 0) {
      send_error = n < 0 ? -n : 0;
      break;
    }
    sent += static_cast<std::size_t>(n);
  }

  std::uint8_t header[4];
  long error = 0;
  if (!read_exact(static_cast<int>(fd), header, sizeof header, &error))
    cannot_talk(socket_path, send_error ? "send" : "no answer", send_error ? send_error : error);
  std::uint32_t length = 0;
  if (!wire::frame_length(header, &length)) cannot_talk(socket_path, "the answer is too long", 0);
  // Up to 16 MiB, so not on the stack; nothing else needs memory.
  long mapped = sys(kMmap, 0, length ? static_cast<long>(length) : 1, kProtRead | kProtWrite,
                    kMapPrivate | kMapAnonymous, -1, 0);
  if (mapped < 0 && mapped > -4096) cannot_talk(socket_path, "mmap", -mapped);
  auto* body = reinterpret_cast<std::uint8_t*>(mapped);
  if (!read_exact(static_cast<int>(fd), body, length, &error)) cannot_talk(socket_path, "answer cut short", error);
  sys(kClose, fd);
  wire::Response response;
  if (!wire::decode_response(body, length, &response)) cannot_talk(socket_path, "malformed answer", 0);
  if (response.status != wire::kStatusOk) {
    put("pmos-launch: ");
    put(reinterpret_cast<const char*>(response.text), response.text_size);
    put("\n");
    exit_with(1);
  }
  exit_with(static_cast<int>(response.exit_code & 0xff));
}

}  // namespace

// The compiler may emit calls to these for copies and zeroing.
extern "C" void* memset(void* dest, int value, std::size_t size) {
  auto* d = static_cast<unsigned char*>(dest);
  for (std::size_t i = 0; i < size; ++i) d[i] = static_cast<unsigned char>(value);
  return dest;
}
extern "C" void* memcpy(void* dest, const void* src, std::size_t size) {
  auto* d = static_cast<unsigned char*>(dest);
  const auto* s = static_cast<const unsigned char*>(src);
  for (std::size_t i = 0; i < size; ++i) d[i] = s[i];
  return dest;
}

// The kernel's entry: argc, argv..., 0, envp..., 0 on the stack.
extern "C" [[noreturn]] void pmos_launch_main(long* stack) {
  int argc = static_cast<int>(stack[0]);
  char** argv = reinterpret_cast<char**>(stack + 1);
  run(argc, argv, argv + argc + 1);
}

asm(".text\n"
    ".global _start\n"
    "_start:\n"
    "  xor %rbp, %rbp\n"
    "  mov %rsp, %rdi\n"
    "  and $-16, %rsp\n"
    "  call pmos_launch_main\n"
    "  hlt\n");

#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <span>
#include <vector>

#include "pmos/base/error_or.h"

namespace pmos::sandbox {

// What the app's seccomp filter does with one system call.
enum class Verdict : std::uint8_t {
  kAllow,
  kEperm,   // fails with EPERM: the call exists but the app may not use it; libc and
            // well-behaved programs have a fallback
  kEnosys,  // fails with ENOSYS, as if the kernel lacked it; libc falls back
  kKill,    // kills the whole process with SIGSYS: no app has a reason to try
};

// A condition on one argument: (argument & mask) == value, or, with
// kGreater, argument > value (all 64 bits, unsigned; mask unused).
struct ArgMatch {
  enum class Op : std::uint8_t { kMaskedEqual, kGreater };
  std::uint8_t arg = 0xff;  // 0..5; 0xff: no condition
  std::uint64_t mask = 0;
  std::uint64_t value = 0;
  Op op = Op::kMaskedEqual;
};

// One line of the app profile. Rules for the same call should not overlap;
// where they must (ioctl), the earlier rule wins, so a specific denial comes
// before the allow that would cover it.
struct SyscallRule {
  const char* name;
  Verdict verdict;
  const char* reason;  // what the app needs it for, or what an attacker would gain
  ArgMatch first{};
  ArgMatch second{};
};

// The app profile, the one table every sandboxed app runs under
// (src/seccomp_profile.cc). Calls not in it fail with ENOSYS: the profile
// denies by default, and a call newer than the table looks to libc like an
// older kernel.
std::span<const SyscallRule> app_profile();

// A classic BPF program for seccomp(SECCOMP_SET_MODE_FILTER). Immutable;
// thread-safe.
class SeccompProgram {
 public:
  explicit SeccompProgram(std::vector<sock_filter> code) : code_(std::move(code)) {}
  std::span<const sock_filter> code() const { return code_; }

 private:
  std::vector<sock_filter> code_;
};

// app_profile() compiled for the native architecture, as built into the
// library (compiled by libseccomp at build time, so launching costs nothing).
// Calls of other architectures' ABIs (i386, x32 on x86_64) kill.
const SeccompProgram& app_seccomp_program();

// Sets no_new_privs and installs `program` on the calling thread (and what it
// forks). Async-signal-safe (no allocation), so it may run between fork and exec.
ErrorOr<void> install_seccomp(const SeccompProgram& program);

}  // namespace pmos::sandbox

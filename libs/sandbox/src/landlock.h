#pragma once

// Landlock, probed at run time. Debian 12's <linux/landlock.h> stops at ABI 2,
// so the later rights and the grown ruleset attribute are defined here, with
// the ABI that introduced each (Documentation/userspace-api/landlock.rst).

#include <cstdint>

namespace pmos::sandbox::landlock {

// Filesystem rights.
inline constexpr std::uint64_t kExecute = 1ull << 0;
inline constexpr std::uint64_t kWriteFile = 1ull << 1;
inline constexpr std::uint64_t kReadFile = 1ull << 2;
inline constexpr std::uint64_t kReadDir = 1ull << 3;
inline constexpr std::uint64_t kRemoveDir = 1ull << 4;
inline constexpr std::uint64_t kRemoveFile = 1ull << 5;
inline constexpr std::uint64_t kMakeChar = 1ull << 6;
inline constexpr std::uint64_t kMakeDir = 1ull << 7;
inline constexpr std::uint64_t kMakeReg = 1ull << 8;
inline constexpr std::uint64_t kMakeSock = 1ull << 9;
inline constexpr std::uint64_t kMakeFifo = 1ull << 10;
inline constexpr std::uint64_t kMakeBlock = 1ull << 11;
inline constexpr std::uint64_t kMakeSym = 1ull << 12;
inline constexpr std::uint64_t kRefer = 1ull << 13;     // ABI 2
inline constexpr std::uint64_t kTruncate = 1ull << 14;  // ABI 3
inline constexpr std::uint64_t kIoctlDev = 1ull << 15;  // ABI 5
// Network rights (ABI 4).
inline constexpr std::uint64_t kBindTcp = 1ull << 0;
inline constexpr std::uint64_t kConnectTcp = 1ull << 1;
// Scopes (ABI 6).
inline constexpr std::uint64_t kScopeAbstractUnixSocket = 1ull << 0;
inline constexpr std::uint64_t kScopeSignal = 1ull << 1;

// Rights that make sense on a file (not a directory) in a path-beneath rule.
inline constexpr std::uint64_t kFileRights = kExecute | kWriteFile | kReadFile | kTruncate | kIoctlDev;

inline constexpr std::uint32_t kCreateRulesetVersion = 1u << 0;
inline constexpr int kRulePathBeneath = 1;

// struct landlock_ruleset_attr as of ABI 6. Older kernels accept it as long as
// the fields they do not know are zero.
struct RulesetAttr {
  std::uint64_t handled_access_fs = 0;
  std::uint64_t handled_access_net = 0;  // ABI 4
  std::uint64_t scoped = 0;              // ABI 6
};

struct [[gnu::packed]] PathBeneathAttr {
  std::uint64_t allowed_access;
  std::int32_t parent_fd;
};

// What a ruleset for `abi` can handle.
struct Handled {
  std::uint64_t fs = 0;
  std::uint64_t net = 0;
  std::uint64_t scoped = 0;
};

constexpr Handled handled_for(int abi) {
  Handled h;
  if (abi < 1) return h;
  h.fs = (1ull << 13) - 1;  // ABI 1: execute .. make_sym
  if (abi >= 2) h.fs |= kRefer;
  if (abi >= 3) h.fs |= kTruncate;
  if (abi >= 4) h.net = kBindTcp | kConnectTcp;
  if (abi >= 5) h.fs |= kIoctlDev;
  if (abi >= 6) h.scoped = kScopeAbstractUnixSocket | kScopeSignal;
  return h;
}

// The highest ABI the kernel offers; 0 if Landlock is not built in or not enabled.
int abi_version();

}  // namespace pmos::sandbox::landlock

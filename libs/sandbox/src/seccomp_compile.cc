// Compiles a seccomp profile table to BPF with libseccomp. Build-time only:
// pmos-seccomp-compile runs it to generate the program the library embeds,
// and the tests run it to check the embedded program is current.

#include "seccomp_compile.h"

#include <errno.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>

#include "pmos/base/unique_fd.h"

namespace pmos::sandbox {
namespace {

constexpr Verdict kDefault = Verdict::kEnosys;

std::uint32_t to_libseccomp(Verdict verdict) {
  switch (verdict) {
    case Verdict::kAllow: return SCMP_ACT_ALLOW;
    case Verdict::kEperm: return SCMP_ACT_ERRNO(EPERM);
    case Verdict::kEnosys: return SCMP_ACT_ERRNO(ENOSYS);
    case Verdict::kKill: return SCMP_ACT_KILL_PROCESS;
  }
  return SCMP_ACT_KILL_PROCESS;
}

scmp_arg_cmp to_libseccomp(const ArgMatch& match) {
  if (match.op == ArgMatch::Op::kGreater) return scmp_arg_cmp{match.arg, SCMP_CMP_GT, match.value, 0};
  return scmp_arg_cmp{match.arg, SCMP_CMP_MASKED_EQ, match.mask, match.value};
}

struct SeccompCtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

}  // namespace

ErrorOr<std::vector<sock_filter>> compile_seccomp_profile(std::span<const SyscallRule> profile) {
  // Deny by default: anything not in the table looks like a call this kernel lacks.
  std::unique_ptr<void, SeccompCtxDeleter> ctx(seccomp_init(to_libseccomp(kDefault)));
  if (!ctx) return Error::internal("seccomp: seccomp_init failed");
  // A call made through another architecture's entry (int 0x80, x32) would
  // bypass a table written for the native numbers.
  if (seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0)
    return Error::internal("seccomp: cannot set the bad-architecture action");
  // A binary search over syscall numbers: a short path for every call.
  if (seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2) != 0)
    return Error::internal("seccomp: cannot enable the binary-tree optimisation");

  for (const SyscallRule& rule : profile) {
    int nr = seccomp_syscall_resolve_name(rule.name);
    // Not a call on this architecture (open on arm64, iopl on arm64 ...): nothing to filter.
    if (nr < 0) continue;
    // The table spells these out for the reader; libseccomp refuses a rule
    // that repeats the default, and the default gives the same answer.
    if (rule.verdict == kDefault) {
      if (rule.first.arg != 0xff) return Error::internal("seccomp: a conditional rule repeats the default");
      continue;
    }
    scmp_arg_cmp args[2];
    unsigned count = 0;
    if (rule.first.arg != 0xff) args[count++] = to_libseccomp(rule.first);
    if (rule.second.arg != 0xff) args[count++] = to_libseccomp(rule.second);
    int rc = seccomp_rule_add_array(ctx.get(), to_libseccomp(rule.verdict), nr, count, args);
    if (rc != 0) {
      return Error::system("seccomp: a rule of the app profile was refused", -rc);
    }
  }

  // libseccomp 2.5 writes the program only to a descriptor.
  UniqueFd memfd(memfd_create("pmos-seccomp", MFD_CLOEXEC));
  if (!memfd) return Error::system("seccomp: memfd_create", errno);
  if (int rc = seccomp_export_bpf(ctx.get(), memfd.get()); rc != 0)
    return Error::system("seccomp: seccomp_export_bpf", -rc);
  off_t size = lseek(memfd.get(), 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0)
    return Error::internal("seccomp: exported program has an impossible size");
  std::vector<sock_filter> code(static_cast<std::size_t>(size) / sizeof(sock_filter));
  if (pread(memfd.get(), code.data(), static_cast<std::size_t>(size), 0) != size)
    return Error::system("seccomp: reading the exported program", errno);
  return code;
}


}  // namespace pmos::sandbox

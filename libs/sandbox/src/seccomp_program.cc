// The app profile as the kernel runs it: BPF compiled from the table at build
// time (pmos-seccomp-compile), so a launch spends no time in libseccomp.

#include <errno.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pmos/sandbox/seccomp_profile.h"

namespace pmos::sandbox {
namespace {

// Generated: `constexpr sock_filter kAppProgram[] = {...};`
#include "app_seccomp_program.inc"

}  // namespace

const SeccompProgram& app_seccomp_program() {
  static const SeccompProgram program(std::vector<sock_filter>(std::begin(kAppProgram), std::end(kAppProgram)));
  return program;
}

ErrorOr<void> install_seccomp(const SeccompProgram& program) {
  // Without no_new_privs the kernel refuses a filter from an unprivileged
  // process, and a set-uid program could run under a filter it did not expect.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Error::system("prctl(PR_SET_NO_NEW_PRIVS)", errno);
  sock_fprog fprog{};
  fprog.len = static_cast<unsigned short>(program.code().size());
  fprog.filter = const_cast<sock_filter*>(program.code().data());
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0)
    return Error::system("seccomp(SECCOMP_SET_MODE_FILTER)", errno);
  return {};
}

}  // namespace pmos::sandbox

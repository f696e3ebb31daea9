#include "landlock.h"

#include <sys/syscall.h>
#include <unistd.h>

namespace pmos::sandbox::landlock {

int abi_version() {
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, kCreateRulesetVersion);
  // ENOSYS: not built in; EOPNOTSUPP: built in but not enabled at boot (lsm=).
  return abi < 0 ? 0 : static_cast<int>(abi);
}

}  // namespace pmos::sandbox::landlock

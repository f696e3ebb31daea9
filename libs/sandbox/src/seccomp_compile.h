#pragma once

#include <linux/filter.h>

#include <span>
#include <vector>

#include "pmos/base/error_or.h"
#include "pmos/sandbox/seccomp_profile.h"

namespace pmos::sandbox {

// `profile` as a classic BPF program for the native architecture: calls not
// in the table fail with ENOSYS, other architectures' calls kill.
ErrorOr<std::vector<sock_filter>> compile_seccomp_profile(std::span<const SyscallRule> profile);

}  // namespace pmos::sandbox

#pragma once

// VERIFY(condition): an invariant of PMOS itself. If it does not hold the
// process has a bug, and continuing could corrupt data or leak secrets, so it
// aborts with the location, in every build type (unlike assert).
#define VERIFY(condition)                                            \
  do {                                                               \
    if (!(condition)) [[unlikely]]                                   \
      ::pmos::detail::verify_failed(#condition, __FILE__, __LINE__); \
  } while (0)

namespace pmos::detail {
[[noreturn]] void verify_failed(const char* condition, const char* file, int line);
}

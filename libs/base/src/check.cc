#include "pmos/base/check.h"

#include <cstdio>
#include <cstdlib>

namespace pmos::detail {

void verify_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "PMOS bug: VERIFY(%s) failed at %s:%d\n", condition, file, line);
  std::abort();
}

}  // namespace pmos::detail

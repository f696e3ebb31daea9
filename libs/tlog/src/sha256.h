#pragma once

#include <initializer_list>

#include "pmos/base/bytes.h"
#include "pmos/tlog/merkle.h"

namespace pmos::tlog::detail {

// SHA-256 of the concatenation of `parts` into a fixed array. Tree hashing
// calls this millions of times, so it reuses one OpenSSL digest context per
// thread instead of allocating one (and a Bytes result) per hash.
Hash sha256(std::initializer_list<BytesView> parts);

}  // namespace pmos::tlog::detail

#pragma once

#include <cstddef>

#include "pmos/base/bytes.h"
#include "pmos/base/secret_bytes.h"

namespace pmos::crypto {

// Cryptographically secure randomness from OpenSSL's DRBG (seeded by the
// kernel). Thread-safe. A DRBG failure means the process cannot do any crypto
// safely, so it aborts rather than returning predictable bytes.
void random_fill(MutableBytesView out);
Bytes random_bytes(std::size_t size);
SecretBytes random_secret(std::size_t size);

}  // namespace pmos::crypto

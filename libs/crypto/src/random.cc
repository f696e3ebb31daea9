#include "pmos/crypto/random.h"

#include <climits>

#include <openssl/rand.h>

#include "pmos/base/check.h"

namespace pmos::crypto {

void random_fill(MutableBytesView out) {
  while (!out.empty()) {
    std::size_t chunk = out.size() < INT_MAX ? out.size() : INT_MAX;
    VERIFY(RAND_bytes(out.data(), static_cast<int>(chunk)) == 1);
    out = out.subspan(chunk);
  }
}

Bytes random_bytes(std::size_t size) {
  Bytes out(size);
  random_fill(out);
  return out;
}

SecretBytes random_secret(std::size_t size) {
  SecretBytes out(size);
  random_fill(out.mutable_view());
  return out;
}

}  // namespace pmos::crypto

#include "sha256.h"

#include <openssl/evp.h>

#include "pmos/base/check.h"
#include "pmos/base/openssl_ptr.h"
#include "pmos/crypto/hash.h"

namespace pmos::tlog::detail {

Hash sha256(std::initializer_list<BytesView> parts) {
  // One context per thread: EVP_MD_CTX is not safe to share, and creating one
  // per call costs more than hashing 65 bytes.
  thread_local EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  VERIFY(ctx != nullptr);
  // The digest was fetched once by libs/crypto; no per-call name lookup.
  VERIFY(EVP_DigestInit_ex2(ctx.get(), crypto::sha256().evp_md(), nullptr) == 1);
  for (BytesView part : parts) {
    if (!part.empty()) VERIFY(EVP_DigestUpdate(ctx.get(), part.data(), part.size()) == 1);
  }
  Hash out;
  unsigned int length = 0;
  VERIFY(EVP_DigestFinal_ex(ctx.get(), out.data(), &length) == 1);
  VERIFY(length == out.size());
  return out;
}

}  // namespace pmos::tlog::detail

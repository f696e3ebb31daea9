#pragma once

#include <memory>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/crypto/keys.h"
#include "pmos/crypto/signature.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace pmos::crypto {

// One private key set up once for many signatures, for a signer on a hot
// path (the device's audit log signs two entries per app launch).
// SignatureScheme::sign() fetches the algorithm and sets the key up on every
// call; with cold caches, as for entries written seconds apart, that was a
// third of an Ed25519 signature here (docs/crypto.md). sign() instead copies
// a context set up once. Same signatures as scheme.sign(key, message); SM2
// takes the scheme's own path (its distinguishing ID lives in the key's
// context and is set per call).
//
// Move-only. sign() is const but not thread-safe: callers that share a
// Signer between threads serialise their calls.
class Signer {
 public:
  // Refused for an empty key or a key of another scheme.
  static ErrorOr<Signer> create(const SignatureScheme& scheme, PrivateKey key);

  ErrorOr<Bytes> sign(BytesView message) const;
  const SignatureScheme& scheme() const { return *scheme_; }
  const PublicKey& public_key() const { return key_.public_key(); }

  Signer(Signer&&) noexcept = default;
  Signer& operator=(Signer&&) noexcept = default;
  ~Signer() = default;

 private:
  struct ContextFree {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  Signer(const SignatureScheme* scheme, PrivateKey key, std::unique_ptr<evp_md_ctx_st, ContextFree> ready)
      : scheme_(scheme), key_(std::move(key)), ready_(std::move(ready)) {}

  const SignatureScheme* scheme_;
  PrivateKey key_;  // also keeps the EVP_PKEY that ready_ refers to alive
  std::unique_ptr<evp_md_ctx_st, ContextFree> ready_;  // null: sign through scheme_
};

}  // namespace pmos::crypto

#include "pmos/crypto/signer.h"

#include <openssl/evp.h>

#include "digest_sign.h"
#include "key_access.h"
#include "pmos/base/check.h"
#include "pmos/base/openssl_ptr.h"

namespace pmos::crypto {

namespace {

// The digest OpenSSL hashes with for each scheme whose context can be set up
// once: nullptr for EdDSA, which hashes internally.
struct Prepared {
  bool supported;
  const char* digest;
};

Prepared prepared_form(std::uint16_t id) {
  switch (static_cast<SignatureSchemeId>(id)) {
    case SignatureSchemeId::kEd25519:
    case SignatureSchemeId::kEd448: return {true, nullptr};
    case SignatureSchemeId::kEcdsaSecp256r1Sha256: return {true, "SHA256"};
    case SignatureSchemeId::kEcdsaSecp384r1Sha384: return {true, "SHA384"};
    case SignatureSchemeId::kEcdsaSecp521r1Sha512: return {true, "SHA512"};
    case SignatureSchemeId::kSm2Sm3: return {false, nullptr};
  }
  return {false, nullptr};
}

}  // namespace

void Signer::ContextFree::operator()(evp_md_ctx_st* ctx) const { EVP_MD_CTX_free(ctx); }

ErrorOr<Signer> Signer::create(const SignatureScheme& scheme, PrivateKey key) {
  if (key.empty()) return Error::invalid_argument("signer: the private key is empty");
  const Prepared form = prepared_form(scheme.id());
  if (!form.supported) {
    // Signs one message so that a key of another scheme is refused here, as
    // for the prepared schemes, and not at the first real signature.
    TRY(scheme.sign(key, {}));
    return Signer(&scheme, std::move(key), nullptr);
  }
  EVP_PKEY* pkey = detail::evp_key_of(key, &scheme);
  if (pkey == nullptr) return Error::invalid_argument("signer: the private key belongs to another algorithm");
  std::unique_ptr<evp_md_ctx_st, ContextFree> ready(EVP_MD_CTX_new());
  VERIFY(ready != nullptr);
  if (EVP_DigestSignInit_ex(ready.get(), nullptr, form.digest, nullptr, nullptr, pkey, nullptr) != 1)
    return Error::crypto("OpenSSL could not set up signing");
  return Signer(&scheme, std::move(key), std::move(ready));
}

ErrorOr<Bytes> Signer::sign(BytesView message) const {
  if (ready_ == nullptr) return scheme_->sign(key_, message);
  // A one-shot EVP_DigestSign finalises its context, so each signature works
  // on a copy of the one set up in create().
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  VERIFY(ctx != nullptr);
  if (EVP_MD_CTX_copy_ex(ctx.get(), ready_.get()) != 1) return Error::crypto("OpenSSL could not sign");
  return detail::digest_sign(ctx.get(), message);
}

}  // namespace pmos::crypto

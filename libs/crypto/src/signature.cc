#include "pmos/crypto/signature.h"

#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "digest_sign.h"
#include "evp_keys.h"
#include "key_access.h"
#include "pmos/base/check.h"
#include "pmos/base/openssl_ptr.h"

namespace pmos::crypto {

namespace {

// Signs and verifies with an EVP_PKEY; `digest` is nullptr for EdDSA, which
// hashes internally.
ErrorOr<Bytes> evp_sign(EVP_PKEY* pkey, const char* digest, BytesView message) {
  if (pkey == nullptr) return Error::invalid_argument("private key is empty or of another algorithm");
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  VERIFY(ctx != nullptr);
  if (EVP_DigestSignInit_ex(ctx.get(), nullptr, digest, nullptr, nullptr, pkey, nullptr) != 1)
    return Error::crypto("OpenSSL could not sign");
  return detail::digest_sign(ctx.get(), message);
}

ErrorOr<void> evp_verify(EVP_PKEY* pkey, const char* digest, BytesView message, BytesView signature) {
  if (pkey == nullptr) return Error::invalid_argument("public key is empty or of another algorithm");
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  VERIFY(ctx != nullptr);
  if (EVP_DigestVerifyInit_ex(ctx.get(), nullptr, digest, nullptr, nullptr, pkey, nullptr) != 1)
    return Error::crypto("OpenSSL could not set up signature verification");
  // Exactly 1 is success; 0 is a bad signature and negative a malformed one.
  if (EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(), message.size()) != 1)
    return Error::crypto("signature verification failed");
  return {};
}

class EdDsa final : public SignatureScheme {
 public:
  EdDsa(SignatureSchemeId id, std::string_view name, detail::RawKeyType type)
      : id_(id), name_(name), type_(type) {}

  std::uint16_t id() const override { return static_cast<std::uint16_t>(id_); }
  std::string_view name() const override { return name_; }
  ErrorOr<PrivateKey> generate() const override { return detail::raw_generate(type_, this); }
  ErrorOr<PrivateKey> private_key(BytesView encoded) const override {
    return detail::raw_private_key(type_, this, encoded);
  }
  ErrorOr<PublicKey> public_key(BytesView encoded) const override {
    return detail::raw_public_key(type_, this, encoded);
  }
  ErrorOr<Bytes> sign(const PrivateKey& key, BytesView message) const override {
    return evp_sign(detail::evp_key_of(key, this), nullptr, message);
  }
  ErrorOr<void> verify(const PublicKey& key, BytesView message, BytesView signature) const override {
    return evp_verify(detail::evp_key_of(key, this), nullptr, message, signature);
  }

 private:
  SignatureSchemeId id_;
  std::string_view name_;
  detail::RawKeyType type_;
};

class Ecdsa final : public SignatureScheme {
 public:
  Ecdsa(SignatureSchemeId id, std::string_view name, const char* group, int nid,
        std::size_t scalar_size, const char* digest)
      : id_(id), name_(name), curve_(group, nid, scalar_size), digest_(digest) {}

  std::uint16_t id() const override { return static_cast<std::uint16_t>(id_); }
  std::string_view name() const override { return name_; }
  ErrorOr<PrivateKey> generate() const override { return detail::ec_generate(curve_, this); }
  ErrorOr<PrivateKey> private_key(BytesView encoded) const override {
    return detail::ec_private_key(curve_, this, encoded);
  }
  ErrorOr<PublicKey> public_key(BytesView encoded) const override {
    return detail::ec_public_key(curve_, this, encoded);
  }
  ErrorOr<Bytes> sign(const PrivateKey& key, BytesView message) const override {
    return evp_sign(detail::evp_key_of(key, this), digest_, message);
  }
  ErrorOr<void> verify(const PublicKey& key, BytesView message, BytesView signature) const override {
    // OpenSSL re-encodes the parsed DER and compares, so only the one
    // canonical encoding of (r, s) verifies: no signature malleability.
    return evp_verify(detail::evp_key_of(key, this), digest_, message, signature);
  }

 private:
  SignatureSchemeId id_;
  std::string_view name_;
  detail::EcCurve curve_;
  const char* digest_;
};

}  // namespace

ErrorOr<Bytes> detail::digest_sign(EVP_MD_CTX* ctx, BytesView message) {
  std::size_t length = 0;
  if (EVP_DigestSign(ctx, nullptr, &length, message.data(), message.size()) != 1)
    return Error::crypto("OpenSSL could not sign");
  Bytes signature(length);
  if (EVP_DigestSign(ctx, signature.data(), &length, message.data(), message.size()) != 1)
    return Error::crypto("OpenSSL could not sign");
  signature.resize(length);  // DER ECDSA signatures vary in length
  return signature;
}

const SignatureScheme& ed25519() {
  static const EdDsa scheme(SignatureSchemeId::kEd25519, "Ed25519", {"ED25519", 32, 32});
  return scheme;
}
const SignatureScheme& ed448() {
  static const EdDsa scheme(SignatureSchemeId::kEd448, "Ed448", {"ED448", 57, 57});
  return scheme;
}
const SignatureScheme& ecdsa_p256_sha256() {
  static const Ecdsa scheme(SignatureSchemeId::kEcdsaSecp256r1Sha256, "ECDSA-P256-SHA256", "P-256",
                            NID_X9_62_prime256v1, 32, "SHA256");
  return scheme;
}
const SignatureScheme& ecdsa_p384_sha384() {
  static const Ecdsa scheme(SignatureSchemeId::kEcdsaSecp384r1Sha384, "ECDSA-P384-SHA384", "P-384",
                            NID_secp384r1, 48, "SHA384");
  return scheme;
}
const SignatureScheme& ecdsa_p521_sha512() {
  static const Ecdsa scheme(SignatureSchemeId::kEcdsaSecp521r1Sha512, "ECDSA-P521-SHA512", "P-521",
                            NID_secp521r1, 66, "SHA512");
  return scheme;
}

ErrorOr<const SignatureScheme*> signature_scheme_for_id(std::uint16_t id) {
  switch (static_cast<SignatureSchemeId>(id)) {
    case SignatureSchemeId::kEcdsaSecp256r1Sha256: return &ecdsa_p256_sha256();
    case SignatureSchemeId::kEcdsaSecp384r1Sha384: return &ecdsa_p384_sha384();
    case SignatureSchemeId::kEcdsaSecp521r1Sha512: return &ecdsa_p521_sha512();
    case SignatureSchemeId::kEd25519: return &ed25519();
    case SignatureSchemeId::kEd448: return &ed448();
    case SignatureSchemeId::kSm2Sm3: return &sm2_sm3();
  }
  return Error::unsupported("unknown signature scheme");
}

}  // namespace pmos::crypto

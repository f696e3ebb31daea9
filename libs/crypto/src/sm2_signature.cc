// SM2 signatures with SM3 (GB/T 32918.2-2016) behind SignatureScheme.
//
// The signature is over e = SM3(Z || M), where Z hashes the signer's
// distinguishing ID and public key (§5.5). This code computes Z itself, once
// per key when the key is imported, and hands OpenSSL only e (EVP_PKEY_sign /
// EVP_PKEY_verify with the SM2 signature provider, which signs the 32-byte
// digest it is given). Two reasons:
//  - the ID is never left to a library default. OpenSSL 3.0's
//    EVP_DigestSign on an SM2 key uses an EMPTY ID unless
//    EVP_PKEY_CTX_set1_id is called, and Botan 2 reads "SM3" as ID = "SM3"
//    (shared/testvectors/sm/LIBRARY-NOTES.txt). A signature under the wrong ID
//    verifies nowhere else: an interop failure that looks like a forgery.
//  - Z is a property of the key: computing it once saves hashing 210 bytes
//    per signature and verification.
// Tests check Z against GB/T 32918.5 and cross-verify with OpenSSL's own
// EVP_DigestVerify (ID set explicitly) and with Botan.

#include <array>
#include <memory>
#include <string>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "key_access.h"
#include "pmos/base/check.h"
#include "pmos/base/openssl_ptr.h"
#include "pmos/crypto/hash.h"
#include "pmos/crypto/random.h"
#include "pmos/crypto/sm2.h"
#include "sm2_curve.h"

namespace pmos::crypto {

namespace {

using detail::Sm2Curve;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, FnDeleter<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, FnDeleter<OSSL_PARAM_free>>;
using Digest = std::array<std::uint8_t, 32>;

// ENTL is the ID's length in bits as 16 bits.
constexpr std::size_t kMaxIdSize = 0xffff / 8;

// SM3 over the concatenation of `parts`, without building it.
Digest sm3_of(std::initializer_list<BytesView> parts) {
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  VERIFY(ctx != nullptr);
  VERIFY(EVP_DigestInit_ex(ctx.get(), sm3().evp_md(), nullptr) == 1);
  for (BytesView part : parts) {
    if (!part.empty()) VERIFY(EVP_DigestUpdate(ctx.get(), part.data(), part.size()) == 1);
  }
  Digest out;
  unsigned int length = 0;
  VERIFY(EVP_DigestFinal_ex(ctx.get(), out.data(), &length) == 1 && length == out.size());
  return out;
}

// Z for an already validated uncompressed point.
Digest compute_z(BytesView point, std::string_view id) {
  std::size_t bits = 8 * id.size();
  std::uint8_t entl[2] = {static_cast<std::uint8_t>(bits >> 8), static_cast<std::uint8_t>(bits)};
  return sm3_of({entl, as_bytes(id), Sm2Curve::get().z_curve_part(), point.subspan(1)});
}

// An EVP_PKEY of type SM2 (the SM2 key manager, which accepts this curve
// where the EC one does not), public or key pair.
ErrorOr<EvpPkeyPtr> evp_sm2_key(BytesView point, const BIGNUM* scalar) {
  ParamBldPtr builder(OSSL_PARAM_BLD_new());
  VERIFY(builder != nullptr);
  bool ok = OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, "SM2", 0) == 1 &&
            OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) == 1 &&
            (scalar == nullptr || OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_PRIV_KEY, scalar) == 1);
  VERIFY(ok);
  ParamPtr params(OSSL_PARAM_BLD_to_param(builder.get()));
  VERIFY(params != nullptr);
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "SM2", nullptr));
  VERIFY(ctx != nullptr);
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, scalar ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return Error::crypto("OpenSSL refused the SM2 key");
  return EvpPkeyPtr(raw);
}

// The prepared form of an SM2 signature key: the OpenSSL key, the Z of its
// scheme's ID and, for private keys, the serialized scalar.
class Sm2SignKeyMaterial final : public detail::KeyMaterial {
 public:
  Sm2SignKeyMaterial(const void* algorithm, EvpPkeyPtr pkey, Digest z, SecretBytes private_bytes = {})
      : KeyMaterial(algorithm), pkey_(std::move(pkey)), z_(z), private_bytes_(std::move(private_bytes)) {}
  EVP_PKEY* pkey() const { return pkey_.get(); }
  BytesView z() const { return z_; }
  BytesView private_bytes() const override { return private_bytes_; }

 private:
  EvpPkeyPtr pkey_;
  Digest z_;
  SecretBytes private_bytes_;
};

class Sm2Signature final : public SignatureScheme {
 public:
  explicit Sm2Signature(std::string id) : id_(std::move(id)) {}

  std::uint16_t id() const override { return static_cast<std::uint16_t>(SignatureSchemeId::kSm2Sm3); }
  std::string_view name() const override { return "SM2-SM3"; }

  ErrorOr<PrivateKey> generate() const override {
    // Uniform in [1, n-2] by rejection; see sm2_dh_generate for the bound.
    for (int attempt = 0; attempt < 64; ++attempt) {
      SecretBytes candidate = random_secret(Sm2Curve::kScalarSize);
      auto key = private_key(candidate);
      if (key.has_value() || std::string_view(key.error().message()) != detail::kScalarOutOfRange) return key;
    }
    return Error::crypto("SM2 key generation found no scalar in range");
  }

  ErrorOr<PrivateKey> private_key(BytesView encoded) const override {
    const Sm2Curve& curve = Sm2Curve::get();
    // d = n - 1 is refused: signing computes (1 + d)^-1 mod n (GB/T 32918.1 §6.1).
    BignumPtr d = TRY(curve.decode_scalar(encoded, 1));
    EcPointPtr q = curve.multiply_generator(d.get());
    Bytes point = curve.encode_point(q.get());
    EvpPkeyPtr pkey = TRY(evp_sm2_key(point, d.get()));
    PublicKey pub = TRY(public_key(point));
    auto material = std::make_shared<const Sm2SignKeyMaterial>(this, std::move(pkey), compute_z(point, id_),
                                                               SecretBytes::copy_of(encoded));
    return detail::KeyAccess::make_private(std::move(material), std::move(pub));
  }

  ErrorOr<PublicKey> public_key(BytesView encoded) const override {
    TRY(Sm2Curve::get().decode_point(encoded));  // on the curve, not infinity
    EvpPkeyPtr pkey = TRY(evp_sm2_key(encoded, nullptr));
    return detail::KeyAccess::make_public(
        to_bytes(encoded), std::make_shared<const Sm2SignKeyMaterial>(this, std::move(pkey), compute_z(encoded, id_)));
  }

  ErrorOr<Bytes> sign(const PrivateKey& key, BytesView message) const override {
    const auto* material = detail::material_of<Sm2SignKeyMaterial>(key, this);
    if (material == nullptr) return Error::invalid_argument("private key is empty or of another algorithm");
    Digest e = sm3_of({material->z(), message});
    EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, material->pkey(), nullptr));
    VERIFY(ctx != nullptr);
    std::size_t length = 0;
    if (EVP_PKEY_sign_init(ctx.get()) != 1 || EVP_PKEY_sign(ctx.get(), nullptr, &length, e.data(), e.size()) != 1)
      return Error::crypto("OpenSSL could not sign");
    Bytes signature(length);
    if (EVP_PKEY_sign(ctx.get(), signature.data(), &length, e.data(), e.size()) != 1)
      return Error::crypto("OpenSSL could not sign");
    signature.resize(length);  // DER: r and s vary in length
    return signature;
  }

  ErrorOr<void> verify(const PublicKey& key, BytesView message, BytesView signature) const override {
    const auto* material = detail::material_of<Sm2SignKeyMaterial>(key, this);
    if (material == nullptr) return Error::invalid_argument("public key is empty or of another algorithm");
    Digest e = sm3_of({material->z(), message});
    EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, material->pkey(), nullptr));
    VERIFY(ctx != nullptr);
    if (EVP_PKEY_verify_init(ctx.get()) != 1) return Error::crypto("OpenSSL could not set up signature verification");
    // Exactly 1 is success. OpenSSL's SM2 verify re-encodes the parsed DER
    // and compares (ossl_sm2_internal_verify), so only the canonical
    // encoding verifies, and it checks 1 <= r, s < n.
    if (EVP_PKEY_verify(ctx.get(), signature.data(), signature.size(), e.data(), e.size()) != 1)
      return Error::crypto("signature verification failed");
    return {};
  }

 private:
  std::string id_;
};

}  // namespace

const SignatureScheme& sm2_sm3() {
  static const Sm2Signature scheme{std::string(kSm2DefaultId)};
  return scheme;
}

ErrorOr<std::unique_ptr<SignatureScheme>> sm2_sm3_with_id(std::string_view id) {
  if (id.size() > kMaxIdSize) return Error::invalid_argument("SM2 distinguishing ID is longer than 8191 bytes");
  return std::unique_ptr<SignatureScheme>(std::make_unique<Sm2Signature>(std::string(id)));
}

ErrorOr<Bytes> sm2_z(BytesView public_point, std::string_view id) {
  if (id.size() > kMaxIdSize) return Error::invalid_argument("SM2 distinguishing ID is longer than 8191 bytes");
  TRY(Sm2Curve::get().decode_point(public_point));
  Digest z = compute_z(public_point, id);
  return Bytes(z.begin(), z.end());
}

}  // namespace pmos::crypto

#include "evp_keys.h"

#include <memory>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "key_access.h"
#include "pmos/base/check.h"

namespace pmos::crypto::detail {

namespace {

using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, FnDeleter<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, FnDeleter<OSSL_PARAM_free>>;

PublicKey make_public(const void* algorithm, Bytes bytes, EvpPkeyPtr pkey) {
  return KeyAccess::make_public(
      std::move(bytes), std::make_shared<const EvpKeyMaterial>(algorithm, std::move(pkey)));
}

PrivateKey make_private(const void* algorithm, EvpPkeyPtr pkey, SecretBytes private_bytes,
                        PublicKey pub) {
  return KeyAccess::make_private(
      std::make_shared<const EvpKeyMaterial>(algorithm, std::move(pkey), std::move(private_bytes)),
      std::move(pub));
}

// The public half as its own EVP_PKEY, so that a PublicKey never carries
// private material.
ErrorOr<PublicKey> raw_public_of(const RawKeyType& type, const void* algorithm, EVP_PKEY* pkey) {
  Bytes pub(type.public_size);
  std::size_t length = pub.size();
  if (EVP_PKEY_get_raw_public_key(pkey, pub.data(), &length) != 1 || length != pub.size())
    return Error::crypto("OpenSSL could not export a public key");
  return raw_public_key(type, algorithm, pub);
}

}  // namespace

ErrorOr<PrivateKey> raw_private_key(const RawKeyType& type, const void* algorithm, BytesView encoded) {
  if (encoded.size() != type.private_size) return Error::invalid_argument("private key has the wrong length");
  EvpPkeyPtr pkey(EVP_PKEY_new_raw_private_key_ex(nullptr, type.openssl_name, nullptr,
                                                  encoded.data(), encoded.size()));
  if (!pkey) return Error::crypto("OpenSSL refused the private key");
  PublicKey pub = TRY(raw_public_of(type, algorithm, pkey.get()));
  return make_private(algorithm, std::move(pkey), SecretBytes::copy_of(encoded), std::move(pub));
}

ErrorOr<PrivateKey> raw_generate(const RawKeyType& type, const void* algorithm) {
  EvpPkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, type.openssl_name));
  if (!pkey) return Error::crypto("OpenSSL key generation failed");
  SecretBytes secret(type.private_size);
  std::size_t length = secret.size();
  if (EVP_PKEY_get_raw_private_key(pkey.get(), secret.data(), &length) != 1 || length != secret.size())
    return Error::crypto("OpenSSL could not export a private key");
  PublicKey pub = TRY(raw_public_of(type, algorithm, pkey.get()));
  return make_private(algorithm, std::move(pkey), std::move(secret), std::move(pub));
}

ErrorOr<PublicKey> raw_public_key(const RawKeyType& type, const void* algorithm, BytesView encoded) {
  if (encoded.size() != type.public_size) return Error::invalid_argument("public key has the wrong length");
  EvpPkeyPtr pkey(EVP_PKEY_new_raw_public_key_ex(nullptr, type.openssl_name, nullptr,
                                                 encoded.data(), encoded.size()));
  if (!pkey) return Error::crypto("OpenSSL refused the public key");
  return make_public(algorithm, to_bytes(encoded), std::move(pkey));
}

EcCurve::EcCurve(const char* name, int nid, std::size_t scalar)
    : group_name(name), scalar_size(scalar), group(EC_GROUP_new_by_curve_name(nid)) {
  VERIFY(group != nullptr);
  order = EC_GROUP_get0_order(group.get());
  point_size = 1 + 2 * ((static_cast<std::size_t>(EC_GROUP_get_degree(group.get())) + 7) / 8);
}

namespace {

ErrorOr<EvpPkeyPtr> ec_from_params(const EcCurve& curve, const BIGNUM* scalar, BytesView point) {
  ParamBldPtr builder(OSSL_PARAM_BLD_new());
  VERIFY(builder != nullptr);
  bool ok = OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve.group_name, 0) == 1 &&
            OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) == 1 &&
            (scalar == nullptr || OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_PRIV_KEY, scalar) == 1);
  VERIFY(ok);
  ParamPtr params(OSSL_PARAM_BLD_to_param(builder.get()));
  VERIFY(params != nullptr);
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  VERIFY(ctx != nullptr);
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, scalar ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return Error::crypto("OpenSSL refused the EC key");
  return EvpPkeyPtr(raw);
}

}  // namespace

ErrorOr<PublicKey> ec_public_key(const EcCurve& curve, const void* algorithm, BytesView point) {
  if (point.size() != curve.point_size || point[0] != 0x04)
    return Error::invalid_argument("EC public key is not an uncompressed point of the right length");
  // Decoding checks that the point lies on the curve: an off-curve point is
  // the classic invalid-curve attack, which would leak the private key.
  EcPointPtr p(EC_POINT_new(curve.group.get()));
  VERIFY(p != nullptr);
  if (EC_POINT_oct2point(curve.group.get(), p.get(), point.data(), point.size(), nullptr) != 1 ||
      EC_POINT_is_on_curve(curve.group.get(), p.get(), nullptr) != 1 ||
      EC_POINT_is_at_infinity(curve.group.get(), p.get()))
    return Error::crypto("EC public key is not a point on the curve");
  EvpPkeyPtr pkey = TRY(ec_from_params(curve, nullptr, point));
  return make_public(algorithm, to_bytes(point), std::move(pkey));
}

ErrorOr<PrivateKey> ec_private_key(const EcCurve& curve, const void* algorithm, BytesView scalar) {
  // Other MLS implementations drop leading zero bytes of the scalar (the
  // IETF message-protection vectors hold a 65-byte P-521 key), so shorter
  // encodings are accepted; the value is range-checked below and always
  // re-serialized at full length.
  if (scalar.empty() || scalar.size() > curve.scalar_size)
    return Error::invalid_argument("EC private key has the wrong length");
  BignumPtr d(BN_bin2bn(scalar.data(), static_cast<int>(scalar.size()), nullptr));
  VERIFY(d != nullptr);
  if (BN_is_zero(d.get()) || BN_cmp(d.get(), curve.order) >= 0) return Error::invalid_argument(kScalarOutOfRange);
  BN_set_flags(d.get(), BN_FLG_CONSTTIME);

  EcPointPtr q(EC_POINT_new(curve.group.get()));
  VERIFY(q != nullptr);
  VERIFY(EC_POINT_mul(curve.group.get(), q.get(), d.get(), nullptr, nullptr, nullptr) == 1);
  Bytes point(curve.point_size);
  VERIFY(EC_POINT_point2oct(curve.group.get(), q.get(), POINT_CONVERSION_UNCOMPRESSED, point.data(),
                            point.size(), nullptr) == point.size());

  EvpPkeyPtr pkey = TRY(ec_from_params(curve, d.get(), point));
  PublicKey pub = TRY(ec_public_key(curve, algorithm, point));
  SecretBytes padded(curve.scalar_size);
  VERIFY(BN_bn2binpad(d.get(), padded.data(), static_cast<int>(padded.size())) == static_cast<int>(padded.size()));
  return make_private(algorithm, std::move(pkey), std::move(padded), std::move(pub));
}

ErrorOr<PrivateKey> ec_generate(const EcCurve& curve, const void* algorithm) {
  EvpPkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve.group_name));
  if (!pkey) return Error::crypto("OpenSSL key generation failed");
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_PRIV_KEY, &raw) != 1)
    return Error::crypto("OpenSSL could not export a private key");
  BignumPtr d(raw);
  SecretBytes scalar(curve.scalar_size);
  VERIFY(BN_bn2binpad(d.get(), scalar.data(), static_cast<int>(scalar.size())) ==
         static_cast<int>(scalar.size()));
  // Re-import so that generated and imported keys take one path.
  return ec_private_key(curve, algorithm, scalar);
}

}  // namespace pmos::crypto::detail

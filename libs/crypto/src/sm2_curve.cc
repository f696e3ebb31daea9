#include "sm2_curve.h"

#include <algorithm>
#include <memory>

#include <openssl/bn.h>
#include <openssl/obj_mac.h>

#include "pmos/base/check.h"
#include "pmos/crypto/random.h"

namespace pmos::crypto::detail {

namespace {

void append_field(Bytes& out, const BIGNUM* value) {
  std::size_t at = out.size();
  out.resize(at + Sm2Curve::kFieldSize);
  VERIFY(BN_bn2binpad(value, out.data() + at, static_cast<int>(Sm2Curve::kFieldSize)) ==
         static_cast<int>(Sm2Curve::kFieldSize));
}

}  // namespace

Sm2Curve::Sm2Curve() : group_(EC_GROUP_new_by_curve_name(NID_sm2)) {
  VERIFY(group_ != nullptr);
  order_ = EC_GROUP_get0_order(group_.get());
  VERIFY(EC_GROUP_get_degree(group_.get()) == 8 * static_cast<int>(kFieldSize));

  // Z's curve part is read from OpenSSL's curve, not typed in here; the
  // GB/T 32918.5 Z vectors check both.
  BignumPtr p(BN_new()), a(BN_new()), b(BN_new()), x(BN_new()), y(BN_new());
  VERIFY(p && a && b && x && y);
  VERIFY(EC_GROUP_get_curve(group_.get(), p.get(), a.get(), b.get(), nullptr) == 1);
  VERIFY(EC_POINT_get_affine_coordinates(group_.get(), EC_GROUP_get0_generator(group_.get()), x.get(),
                                         y.get(), nullptr) == 1);
  for (const BIGNUM* value : {a.get(), b.get(), x.get(), y.get()}) append_field(z_curve_part_, value);
}

const Sm2Curve& Sm2Curve::get() {
  static const Sm2Curve curve;
  return curve;
}

ErrorOr<EcPointPtr> Sm2Curve::decode_point(BytesView encoded) const {
  if (encoded.size() != kPointSize || encoded[0] != 0x04)
    return Error::invalid_argument("EC public key is not an uncompressed point of the right length");
  EcPointPtr point(EC_POINT_new(group_.get()));
  VERIFY(point != nullptr);
  // oct2point already refuses off-curve coordinates; the explicit checks
  // say what this code relies on.
  if (EC_POINT_oct2point(group_.get(), point.get(), encoded.data(), encoded.size(), nullptr) != 1 ||
      EC_POINT_is_on_curve(group_.get(), point.get(), nullptr) != 1 ||
      EC_POINT_is_at_infinity(group_.get(), point.get()))
    return Error::crypto("EC public key is not a point on the curve");
  return point;
}

Bytes Sm2Curve::encode_point(const EC_POINT* point) const {
  Bytes out(kPointSize);
  VERIFY(EC_POINT_point2oct(group_.get(), point, POINT_CONVERSION_UNCOMPRESSED, out.data(), out.size(),
                            nullptr) == out.size());
  return out;
}

ErrorOr<BignumPtr> Sm2Curve::decode_scalar(BytesView encoded, unsigned margin) const {
  if (encoded.size() != kScalarSize) return Error::invalid_argument("EC private key has the wrong length");
  BignumPtr d(BN_bin2bn(encoded.data(), static_cast<int>(encoded.size()), nullptr));
  VERIFY(d != nullptr);
  BignumPtr limit(BN_dup(order_));  // exclusive upper bound: n - margin
  VERIFY(limit != nullptr && BN_sub_word(limit.get(), margin) == 1);
  if (BN_is_zero(d.get()) || BN_cmp(d.get(), limit.get()) >= 0) return Error::invalid_argument(kScalarOutOfRange);
  BN_set_flags(d.get(), BN_FLG_CONSTTIME);
  return d;
}

EcPointPtr Sm2Curve::multiply_generator(const BIGNUM* d) const {
  EcPointPtr q(EC_POINT_new(group_.get()));
  VERIFY(q != nullptr);
  VERIFY(EC_POINT_mul(group_.get(), q.get(), d, nullptr, nullptr, nullptr) == 1);
  return q;
}

ErrorOr<SecretBytes> Sm2Curve::dh_x(const BIGNUM* d, const EC_POINT* point) const {
  EcPointPtr product(EC_POINT_new(group_.get()));
  BignumPtr x(BN_new());
  VERIFY(product != nullptr && x != nullptr);
  // A single (point, scalar) pair takes OpenSSL's constant-time Montgomery
  // ladder (ossl_ec_scalar_mul_ladder), as ECDH_compute_key does.
  if (EC_POINT_mul(group_.get(), product.get(), nullptr, point, d, nullptr) != 1 ||
      EC_POINT_is_at_infinity(group_.get(), product.get()) ||
      EC_POINT_get_affine_coordinates(group_.get(), product.get(), x.get(), nullptr, nullptr) != 1)
    return Error::crypto("Diffie-Hellman with this public key failed");
  SecretBytes shared(kFieldSize);
  VERIFY(BN_bn2binpad(x.get(), shared.data(), static_cast<int>(kFieldSize)) == static_cast<int>(kFieldSize));
  if (BN_is_zero(x.get())) return Error::crypto("Diffie-Hellman output is zero");
  return shared;
}

ErrorOr<PublicKey> sm2_dh_public_key(const void* algorithm, BytesView point) {
  EcPointPtr decoded = TRY(Sm2Curve::get().decode_point(point));
  return KeyAccess::make_public(to_bytes(point),
                                std::make_shared<const Sm2PointKeyMaterial>(algorithm, std::move(decoded)));
}

ErrorOr<PrivateKey> sm2_dh_private_key(const void* algorithm, BytesView scalar) {
  const Sm2Curve& curve = Sm2Curve::get();
  BignumPtr d = TRY(curve.decode_scalar(scalar));
  EcPointPtr q = curve.multiply_generator(d.get());
  Bytes encoded = curve.encode_point(q.get());
  // The public half gets its own material, so a PublicKey copied out of a
  // PrivateKey never carries the scalar.
  PublicKey pub = TRY(sm2_dh_public_key(algorithm, encoded));
  auto material = std::make_shared<const Sm2PointKeyMaterial>(algorithm, std::move(q), std::move(d),
                                                              SecretBytes::copy_of(scalar));
  return KeyAccess::make_private(std::move(material), std::move(pub));
}

ErrorOr<PrivateKey> sm2_dh_generate(const void* algorithm) {
  // Uniform in [1, n-1] by rejection: n is within 2^-32 of 2^256, so a
  // retry is rare and the loop bound is never reached by a working DRBG.
  for (int attempt = 0; attempt < 64; ++attempt) {
    SecretBytes candidate = random_secret(Sm2Curve::kScalarSize);
    auto key = sm2_dh_private_key(algorithm, candidate);
    if (key.has_value() || std::string_view(key.error().message()) != kScalarOutOfRange) return key;
  }
  return Error::crypto("SM2 key generation found no scalar in range");
}

}  // namespace pmos::crypto::detail

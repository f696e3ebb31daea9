#pragma once

// Private to libs/crypto: the SM2 curve sm2p256v1 (GB/T 32918.5-2017 §2,
// RFC 8998 §3.2.1 "curveSM2") through OpenSSL's EC_GROUP / EC_POINT / BIGNUM
// API, shared by the SM2 signature scheme and DHKEM(SM2, HKDF-SM3).
//
// Why not EVP keys, as the NIST curves use: OpenSSL 3.0's EC key manager
// refuses SM2-curve keys, and keys of type "SM2" cannot derive
// (EVP_PKEY_derive: "operation not supported for this keytype"; see
// shared/testvectors/sm/LIBRARY-NOTES.txt). The point and scalar API works
// on NID_sm2 and is not deprecated in 3.0.

#include <cstddef>
#include <utility>

#include <openssl/ec.h>

#include "evp_keys.h"  // kScalarOutOfRange
#include "key_access.h"
#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/base/openssl_ptr.h"
#include "pmos/base/secret_bytes.h"

namespace pmos::crypto::detail {

// The curve, built once. Immutable and thread-safe: every operation makes
// its own temporaries.
class Sm2Curve {
 public:
  static constexpr std::size_t kFieldSize = 32;
  static constexpr std::size_t kScalarSize = 32;
  static constexpr std::size_t kPointSize = 1 + 2 * kFieldSize;  // uncompressed SEC1

  static const Sm2Curve& get();

  const EC_GROUP* group() const { return group_.get(); }
  const BIGNUM* order() const { return order_; }
  // a || b || xG || yG, 32 bytes each: the curve part of Z (GB/T 32918.2 §5.5).
  BytesView z_curve_part() const { return z_curve_part_; }

  // An uncompressed point on the curve, not infinity; anything else is an
  // error. Off-curve points are the invalid-curve attack: DH with one leaks
  // the private scalar modulo a small order.
  ErrorOr<EcPointPtr> decode_point(BytesView encoded) const;
  Bytes encode_point(const EC_POINT* point) const;
  // A 32-byte big-endian scalar with 1 <= d <= order - 1 - `margin`
  // (signature keys need d <= n - 2, GB/T 32918.1 §6.1, since 1 + d must be
  // invertible). Out of range returns kScalarOutOfRange exactly, so
  // DeriveKeyPair can tell it from other errors. The BIGNUM is marked
  // constant-time.
  ErrorOr<BignumPtr> decode_scalar(BytesView encoded, unsigned margin = 0) const;
  // d * G, in constant time (OpenSSL's ladder for a single scalar).
  EcPointPtr multiply_generator(const BIGNUM* d) const;
  // The x-coordinate of d * point (32 bytes), constant time in d. Fails if
  // the product is infinity or x is zero: neither happens for a valid key
  // pair, and accepting either would let a crafted point fix the secret.
  ErrorOr<SecretBytes> dh_x(const BIGNUM* d, const EC_POINT* point) const;

  Sm2Curve(const Sm2Curve&) = delete;
  Sm2Curve& operator=(const Sm2Curve&) = delete;

 private:
  Sm2Curve();
  EcGroupPtr group_;
  const BIGNUM* order_;  // owned by group_
  Bytes z_curve_part_;
};

// The prepared form of an SM2-curve DH key: the decoded point and, for a
// private key, the scalar and its serialization.
class Sm2PointKeyMaterial final : public KeyMaterial {
 public:
  Sm2PointKeyMaterial(const void* algorithm, EcPointPtr point, BignumPtr scalar = {},
                      SecretBytes private_bytes = {})
      : KeyMaterial(algorithm), point_(std::move(point)), scalar_(std::move(scalar)),
        private_bytes_(std::move(private_bytes)) {}
  const EC_POINT* point() const { return point_.get(); }
  const BIGNUM* scalar() const { return scalar_.get(); }  // nullptr for public keys
  BytesView private_bytes() const override { return private_bytes_; }

 private:
  EcPointPtr point_;
  BignumPtr scalar_;
  SecretBytes private_bytes_;
};

// The material of a key made by `algorithm` if it is of type M, else nullptr
// (empty key, or a key of another algorithm). Sound because each algorithm
// makes exactly one kind of material.
template <typename M, typename Key>
const M* material_of(const Key& key, const void* algorithm) {
  const KeyMaterial* material = KeyAccess::material(key);
  if (material == nullptr || material->algorithm() != algorithm) return nullptr;
  return static_cast<const M*>(material);
}

// DH keys on the SM2 curve: RFC 9180 SerializePublicKey (uncompressed point)
// and SerializePrivateKey (32-byte scalar), as for P-256 (§7.1.1, §7.1.2).
ErrorOr<PrivateKey> sm2_dh_private_key(const void* algorithm, BytesView scalar);
ErrorOr<PublicKey> sm2_dh_public_key(const void* algorithm, BytesView point);
ErrorOr<PrivateKey> sm2_dh_generate(const void* algorithm);

}  // namespace pmos::crypto::detail

#pragma once

// Private to libs/crypto: importing, generating and exporting OpenSSL keys in
// the encodings MLS and HPKE use. Two families: "raw" keys (X25519, X448,
// Ed25519, Ed448: fixed-length strings) and NIST prime curves (big-endian
// scalar, uncompressed SEC1 point).

#include <cstddef>

#include <openssl/ec.h>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/base/openssl_ptr.h"
#include "pmos/base/secret_bytes.h"
#include "pmos/crypto/keys.h"

namespace pmos::crypto::detail {

struct RawKeyType {
  const char* openssl_name;  // "X25519", "ED25519" ...
  std::size_t private_size;
  std::size_t public_size;
};

struct EcCurve {
  EcCurve(const char* group_name, int nid, std::size_t scalar_size);
  const char* group_name;  // "P-256" ...
  std::size_t scalar_size;
  std::size_t point_size;  // 1 + 2 * field size
  EcGroupPtr group;
  const BIGNUM* order;  // owned by `group`
};

// Each returns keys whose prepared form records `algorithm` as their maker.
ErrorOr<PrivateKey> raw_generate(const RawKeyType& type, const void* algorithm);
ErrorOr<PrivateKey> raw_private_key(const RawKeyType& type, const void* algorithm, BytesView encoded);
ErrorOr<PublicKey> raw_public_key(const RawKeyType& type, const void* algorithm, BytesView encoded);

ErrorOr<PrivateKey> ec_generate(const EcCurve& curve, const void* algorithm);
// Rejects a scalar of the wrong length, zero, or not below the group order
// (the error message says which, so DeriveKeyPair can retry on range only).
ErrorOr<PrivateKey> ec_private_key(const EcCurve& curve, const void* algorithm, BytesView scalar);
// Rejects anything but an uncompressed point on the curve (not infinity).
ErrorOr<PublicKey> ec_public_key(const EcCurve& curve, const void* algorithm, BytesView point);

inline constexpr const char* kScalarOutOfRange = "private key scalar is zero or not below the group order";

}  // namespace pmos::crypto::detail

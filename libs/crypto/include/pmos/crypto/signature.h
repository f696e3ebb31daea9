#pragma once

#include <cstdint>
#include <string_view>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/crypto/keys.h"

namespace pmos::crypto {

// TLS SignatureScheme code points (RFC 8446 §4.2.3), as MLS names them.
enum class SignatureSchemeId : std::uint16_t {
  kEcdsaSecp256r1Sha256 = 0x0403,
  kEcdsaSecp384r1Sha384 = 0x0503,
  kEcdsaSecp521r1Sha512 = 0x0603,
  kEd25519 = 0x0807,
  kEd448 = 0x0808,
  // sm2sig_sm3 (RFC 8998 §3.2; TLS registry value). SM2 with SM3 and the
  // distinguishing ID 1234567812345678; used by MLS suite 0xF0A1.
  kSm2Sm3 = 0x0708,
};

// A signature algorithm with the key encodings MLS uses (RFC 9420 §5.1.1):
// EdDSA keys are the raw RFC 8032 strings; ECDSA public keys are uncompressed
// SEC1 points, private keys the big-endian scalar, and signatures DER
// (ECDSA-Sig-Value), as in TLS 1.3. SM2 uses the ECDSA encodings on
// sm2p256v1 (a DER SEQUENCE { r, s }, as RFC 8998 and GM/T 0009 do).
//
// Implementations are process-wide constants: immutable and thread-safe.
class SignatureScheme {
 public:
  virtual ~SignatureScheme() = default;

  virtual std::uint16_t id() const = 0;
  virtual std::string_view name() const = 0;

  virtual ErrorOr<PrivateKey> generate() const = 0;
  // Rejects wrong lengths, out-of-range scalars and points off the curve.
  virtual ErrorOr<PrivateKey> private_key(BytesView encoded) const = 0;
  virtual ErrorOr<PublicKey> public_key(BytesView encoded) const = 0;

  virtual ErrorOr<Bytes> sign(const PrivateKey& key, BytesView message) const = 0;
  // A bad signature is a kCrypto error, never a silent success.
  virtual ErrorOr<void> verify(const PublicKey& key, BytesView message,
                               BytesView signature) const = 0;
};

const SignatureScheme& ed25519();
const SignatureScheme& ed448();
const SignatureScheme& ecdsa_p256_sha256();
const SignatureScheme& ecdsa_p384_sha384();
const SignatureScheme& ecdsa_p521_sha512();
// SM2 signatures with SM3 (GB/T 32918.2) and the default distinguishing ID
// "1234567812345678"; see sm2.h for other IDs and Z.
const SignatureScheme& sm2_sm3();
ErrorOr<const SignatureScheme*> signature_scheme_for_id(std::uint16_t id);

}  // namespace pmos::crypto

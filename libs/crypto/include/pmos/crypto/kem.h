#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/base/secret_bytes.h"
#include "pmos/crypto/keys.h"

namespace pmos::crypto {

// HPKE KEM identifiers (RFC 9180 §7.1).
enum class KemId : std::uint16_t {
  kDhkemP256Sha256 = 0x0010,
  kDhkemP384Sha384 = 0x0011,
  kDhkemP521Sha512 = 0x0012,
  kDhkemX25519Sha256 = 0x0020,
  kDhkemX448Sha512 = 0x0021,
  // DHKEM(SM2, HKDF-SM3): not in the IANA registry; PMOS private value
  // (docs/formats/national-suite.md). Nsecret 32, Nenc = Npk 65, Nsk 32.
  kDhkemSm2Sm3 = 0xF0A2,
};

// A key encapsulation mechanism (RFC 9180 §4). Every KEM here is a DHKEM
// (§4.1) over some group, but callers see only this interface, so a suite
// with another group (or a post-quantum KEM) plugs in without changing them.
//
// Implementations are process-wide constants: immutable and thread-safe.
class Kem {
 public:
  struct Encapsulation {
    SecretBytes shared_secret;
    Bytes enc;
  };

  virtual ~Kem() = default;

  virtual std::uint16_t id() const = 0;
  virtual std::string_view name() const = 0;
  virtual std::size_t shared_secret_size() const = 0;  // Nsecret
  virtual std::size_t enc_size() const = 0;            // Nenc
  virtual std::size_t public_key_size() const = 0;     // Npk
  virtual std::size_t private_key_size() const = 0;    // Nsk

  virtual ErrorOr<PrivateKey> generate() const = 0;
  // DeriveKeyPair(ikm), deterministic (RFC 9180 §7.1.3).
  virtual ErrorOr<PrivateKey> derive_key_pair(BytesView ikm) const = 0;
  // DeserializePrivateKey / DeserializePublicKey: wrong lengths, scalars out
  // of range and points off the curve are errors.
  virtual ErrorOr<PrivateKey> private_key(BytesView encoded) const = 0;
  virtual ErrorOr<PublicKey> public_key(BytesView encoded) const = 0;

  // Encap / AuthEncap. `ephemeral` fixes the ephemeral key, for known-answer
  // tests only (RFC 9180 §4.1 allows this); production passes nullptr.
  virtual ErrorOr<Encapsulation> encap(const PublicKey& recipient,
                                       const PrivateKey* ephemeral = nullptr) const = 0;
  virtual ErrorOr<SecretBytes> decap(BytesView enc, const PrivateKey& recipient) const = 0;
  virtual ErrorOr<Encapsulation> auth_encap(const PublicKey& recipient, const PrivateKey& sender,
                                            const PrivateKey* ephemeral = nullptr) const = 0;
  virtual ErrorOr<SecretBytes> auth_decap(BytesView enc, const PrivateKey& recipient,
                                          const PublicKey& sender) const = 0;
};

const Kem& dhkem_p256();
const Kem& dhkem_p384();
const Kem& dhkem_p521();
const Kem& dhkem_x25519();
const Kem& dhkem_x448();
// DHKEM on the SM2 curve sm2p256v1 with HKDF-SM3, built exactly as RFC 9180
// §4.1 builds DHKEM(P-256, HKDF-SHA256).
const Kem& dhkem_sm2();
ErrorOr<const Kem*> kem_for_id(std::uint16_t id);

}  // namespace pmos::crypto

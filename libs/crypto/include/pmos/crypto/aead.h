#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"

namespace pmos::crypto {

// HPKE AEAD identifiers (RFC 9180 §7.3). 0xFFFF is HPKE's export-only mode,
// which has no Aead object.
enum class AeadId : std::uint16_t {
  kAes128Gcm = 0x0001,
  kAes256Gcm = 0x0002,
  kChaCha20Poly1305 = 0x0003,
  // SM4-GCM (RFC 8998 §2: AEAD_SM4_GCM, Nk 16, Nn 12, Nt 16): not in the
  // IANA registry; PMOS private value (docs/formats/national-suite.md).
  kSm4Gcm = 0xF0A4,
  kExportOnly = 0xFFFF,
};

// Authenticated encryption with associated data. The ciphertext is the
// encrypted plaintext followed by the tag. open() of anything tampered with is
// a kCrypto error and returns no plaintext.
//
// Implementations are process-wide constants: immutable and thread-safe.
class Aead {
 public:
  virtual ~Aead() = default;

  virtual std::uint16_t id() const = 0;
  virtual std::string_view name() const = 0;
  virtual std::size_t key_size() const = 0;    // Nk
  virtual std::size_t nonce_size() const = 0;  // Nn
  virtual std::size_t tag_size() const = 0;    // Nt

  // Writes plaintext.size() + tag_size() bytes to `out`.
  ErrorOr<void> seal_into(BytesView key, BytesView nonce, BytesView aad, BytesView plaintext,
                          MutableBytesView out) const;
  // Writes ciphertext.size() - tag_size() bytes to `out`; on failure `out`
  // is wiped, so no unauthenticated plaintext escapes.
  ErrorOr<void> open_into(BytesView key, BytesView nonce, BytesView aad, BytesView ciphertext,
                          MutableBytesView out) const;

  ErrorOr<Bytes> seal(BytesView key, BytesView nonce, BytesView aad, BytesView plaintext) const;
  ErrorOr<Bytes> open(BytesView key, BytesView nonce, BytesView aad, BytesView ciphertext) const;

 protected:
  // The algorithm alone: seal_into/open_into have checked every length
  // (key, nonce, output, the tag present, inputs under 2 GiB) before
  // calling these, once for all implementations.
  virtual ErrorOr<void> seal_checked(BytesView key, BytesView nonce, BytesView aad, BytesView plaintext,
                                     MutableBytesView out) const = 0;
  virtual ErrorOr<void> open_checked(BytesView key, BytesView nonce, BytesView aad, BytesView ciphertext,
                                     MutableBytesView out) const = 0;
};

const Aead& aes128_gcm();
const Aead& aes256_gcm();
const Aead& chacha20_poly1305();
// SM4-GCM through Botan 2 (OpenSSL 3.0 has SM4 but not SM4-GCM).
const Aead& sm4_gcm();
// The AEAD with this HPKE id; kExportOnly and unknown ids are errors.
ErrorOr<const Aead*> aead_for_id(std::uint16_t id);

}  // namespace pmos::crypto

#pragma once

#include <cstdint>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/base/secret_bytes.h"
#include "pmos/crypto/aead.h"
#include "pmos/crypto/hash.h"
#include "pmos/crypto/kem.h"
#include "pmos/crypto/keys.h"

namespace pmos::crypto {

// RFC 9180 §5 modes.
enum class HpkeMode : std::uint8_t { kBase = 0, kPsk = 1, kAuth = 2, kAuthPsk = 3 };

// What selects the mode: a PSK (with its id) makes it psk, a sender key makes
// it auth, both make it auth_psk. The views must outlive the call.
struct HpkeSenderOptions {
  BytesView psk;
  BytesView psk_id;
  const PrivateKey* sender_key = nullptr;   // auth modes
  const PrivateKey* ephemeral_key = nullptr;  // known-answer tests only
};
struct HpkeReceiverOptions {
  BytesView psk;
  BytesView psk_id;
  const PublicKey* sender_key = nullptr;  // auth modes
};

// An HPKE encryption context (RFC 9180 §5.2): the AEAD key, base nonce,
// sequence number and exporter secret. A sender context only seals, a
// receiver context only opens; both export. Not thread-safe (the sequence
// number advances); movable, not copyable; secrets are wiped on destruction.
class HpkeContext {
 public:
  enum class Role : std::uint8_t { kSender, kReceiver };

  HpkeContext(HpkeContext&&) = default;
  HpkeContext& operator=(HpkeContext&&) = default;

  ErrorOr<Bytes> seal(BytesView aad, BytesView plaintext);
  ErrorOr<Bytes> open(BytesView aad, BytesView ciphertext);
  ErrorOr<SecretBytes> export_secret(BytesView exporter_context, std::size_t length) const;

  std::uint64_t sequence_number() const { return sequence_; }
  // Test access to the derived values (RFC 9180 vectors list them).
  BytesView key() const { return key_; }
  BytesView base_nonce() const { return base_nonce_; }
  BytesView exporter_secret() const { return exporter_secret_; }

 private:
  friend class Hpke;
  HpkeContext(Role role, const Hash& kdf, const Aead* aead, Bytes suite_id, SecretBytes key,
              SecretBytes base_nonce, SecretBytes exporter_secret);
  ErrorOr<void> next_nonce(MutableBytesView nonce);

  Role role_;
  const Hash* kdf_;
  const Aead* aead_;  // nullptr in export-only mode
  Bytes suite_id_;
  SecretBytes key_;
  SecretBytes base_nonce_;
  SecretBytes exporter_secret_;
  std::uint64_t sequence_ = 0;
};

// HPKE (RFC 9180) for one (KEM, KDF, AEAD) triple; all four modes, the
// context API and the single-shot API. Immutable and thread-safe.
class Hpke {
 public:
  // `aead` nullptr is the export-only mode (AEAD id 0xFFFF).
  Hpke(const Kem& kem, const Hash& kdf, const Aead* aead);
  static ErrorOr<Hpke> create(std::uint16_t kem_id, std::uint16_t kdf_id, std::uint16_t aead_id);

  const Kem& kem() const { return *kem_; }
  const Hash& kdf() const { return *kdf_; }
  const Aead* aead() const { return aead_; }

  struct Sender {
    Bytes enc;
    HpkeContext context;
  };
  ErrorOr<Sender> setup_sender(const PublicKey& recipient, BytesView info,
                               const HpkeSenderOptions& options = {}) const;
  ErrorOr<HpkeContext> setup_receiver(BytesView enc, const PrivateKey& recipient, BytesView info,
                                      const HpkeReceiverOptions& options = {}) const;

  struct Sealed {
    Bytes enc;
    Bytes ciphertext;
  };
  ErrorOr<Sealed> seal(const PublicKey& recipient, BytesView info, BytesView aad,
                       BytesView plaintext, const HpkeSenderOptions& options = {}) const;
  ErrorOr<Bytes> open(BytesView enc, const PrivateKey& recipient, BytesView info, BytesView aad,
                      BytesView ciphertext, const HpkeReceiverOptions& options = {}) const;

  // SendExport / ReceiveExport (§6.2).
  struct SenderExport {
    Bytes enc;
    SecretBytes secret;
  };
  ErrorOr<SenderExport> send_export(const PublicKey& recipient, BytesView info,
                                    BytesView exporter_context, std::size_t length,
                                    const HpkeSenderOptions& options = {}) const;
  ErrorOr<SecretBytes> receive_export(BytesView enc, const PrivateKey& recipient, BytesView info,
                                      BytesView exporter_context, std::size_t length,
                                      const HpkeReceiverOptions& options = {}) const;

 private:
  ErrorOr<HpkeContext> key_schedule(HpkeContext::Role role, HpkeMode mode,
                                    BytesView shared_secret, BytesView info, BytesView psk,
                                    BytesView psk_id) const;

  const Kem* kem_;
  const Hash* kdf_;
  const Aead* aead_;
  Bytes suite_id_;  // "HPKE" || kem_id || kdf_id || aead_id
};

}  // namespace pmos::crypto

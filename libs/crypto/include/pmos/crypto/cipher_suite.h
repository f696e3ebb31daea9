#pragma once

#include <cstdint>
#include <string_view>
#include <tuple>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/base/secret_bytes.h"
#include "pmos/crypto/aead.h"
#include "pmos/crypto/hash.h"
#include "pmos/crypto/hpke.h"
#include "pmos/crypto/kem.h"
#include "pmos/crypto/keys.h"
#include "pmos/crypto/signature.h"

namespace pmos::crypto {

// MLS cipher suites (RFC 9420 §17.1).
enum class CipherSuiteId : std::uint16_t {
  kMls128Dhkemx25519Aes128gcmSha256Ed25519 = 0x0001,
  kMls128Dhkemp256Aes128gcmSha256P256 = 0x0002,
  kMls128Dhkemx25519Chacha20poly1305Sha256Ed25519 = 0x0003,
  kMls256Dhkemx448Aes256gcmSha512Ed448 = 0x0004,
  kMls256Dhkemp521Aes256gcmSha512P521 = 0x0005,
  kMls256Dhkemx448Chacha20poly1305Sha512Ed448 = 0x0006,
  kMls256Dhkemp384Aes256gcmSha384P384 = 0x0007,
  // Private use (0xF000-0xFFFF): SM2 / SM3 / SM4-GCM, issue 9,
  // docs/formats/national-suite.md.
  kMls128DhkemSm2Sm4gcmSm3Sm2 = 0xF0A1,
};

// Ciphertext of EncryptWithLabel: HPKECiphertext of RFC 9420 §5.1.3.
// Wire fields declared for libs/mls, which carries it as opaque<V> pairs.
struct HpkeCiphertext {
  Bytes kem_output;
  Bytes ciphertext;

  static auto tls_fields(auto& self) { return std::tie(self.kem_output, self.ciphertext); }
  friend bool operator==(const HpkeCiphertext&, const HpkeCiphertext&) = default;
};

namespace detail { struct SuiteEntry; }

// An MLS cipher suite: the hash, KDF, AEAD, KEM (with its HPKE) and signature
// scheme it names, plus the labelled operations of RFC 9420 §5 and §8 built
// on them. A suite is a small value (one pointer into a registry of
// process-wide constants): copy it freely, from any thread.
//
// Callers name suites only by their 16-bit id, so adding one (the national
// SM2/SM3/SM4 suite, a post-quantum one) is an entry in the registry and
// touches no caller.
class CipherSuite {
 public:
  // Any suite in the registry, standard or private use.
  static ErrorOr<CipherSuite> from_id(std::uint16_t id);
  // The RFC 9420 registry suites PMOS implements (0x0001-0x0007).
  static std::vector<std::uint16_t> supported_ids();
  // The private-use suites PMOS defines (0xF0A1, the national suite). Listed
  // apart because only a deployment's policy turns them on: no peer outside
  // PMOS knows them, so they are never offered by default.
  static std::vector<std::uint16_t> private_use_ids();

  std::uint16_t id() const;
  std::string_view name() const;
  const Hash& hash() const;  // also the KDF: HKDF over this hash
  const Aead& aead() const;
  const Kem& kem() const;
  const Hpke& hpke() const;
  const SignatureScheme& signature() const;

  // RefHash(label, value) = Hash(RefHashInput) (§5.2).
  Bytes ref_hash(std::string_view label, BytesView value) const;
  // ExpandWithLabel(secret, label, context, length), "MLS 1.0 " + label (§8).
  ErrorOr<SecretBytes> expand_with_label(BytesView secret, std::string_view label,
                                         BytesView context, std::uint16_t length) const;
  // DeriveSecret(secret, label) = ExpandWithLabel(secret, label, "", Nh).
  ErrorOr<SecretBytes> derive_secret(BytesView secret, std::string_view label) const;
  // DeriveTreeSecret(secret, label, generation, length) (§9.1).
  ErrorOr<SecretBytes> derive_tree_secret(BytesView secret, std::string_view label,
                                          std::uint32_t generation, std::uint16_t length) const;

  // SignWithLabel / VerifyWithLabel (§5.1.2).
  ErrorOr<Bytes> sign_with_label(const PrivateKey& key, std::string_view label,
                                 BytesView content) const;
  ErrorOr<void> verify_with_label(const PublicKey& key, std::string_view label,
                                  BytesView content, BytesView signature) const;

  // EncryptWithLabel / DecryptWithLabel (§5.1.3): HPKE base mode with
  // info = EncryptContext and empty aad.
  ErrorOr<HpkeCiphertext> encrypt_with_label(const PublicKey& key, std::string_view label,
                                             BytesView context, BytesView plaintext) const;
  ErrorOr<Bytes> decrypt_with_label(const PrivateKey& key, std::string_view label,
                                    BytesView context, BytesView kem_output,
                                    BytesView ciphertext) const;

  friend bool operator==(const CipherSuite& a, const CipherSuite& b) { return a.entry_ == b.entry_; }

 private:
  explicit CipherSuite(const detail::SuiteEntry* entry) : entry_(entry) {}
  const detail::SuiteEntry* entry_;
};

}  // namespace pmos::crypto

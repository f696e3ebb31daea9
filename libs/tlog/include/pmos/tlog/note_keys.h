#pragma once

// Key encodings of C2SP signed-note v1.0.0 and the Ed25519 note keys.
//
//   verifier key (vkey):  <name>+<hex key id>+base64(<type byte> || public key)
//   signer key (skey):    PRIVATE+KEY+<name>+<hex key id>+base64(<type> || seed)
//
// The skey form is not in the C2SP spec; it is the format of Go's
// golang.org/x/mod/sumdb/note (and the tools built on it), which we follow so
// that keys move between implementations. An Ed25519 key id is
// SHA-256(name || '\n' || 0x01 || 32-byte public key)[:4], big-endian.

#include <cstdint>
#include <string>
#include <string_view>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/base/secret_bytes.h"
#include "pmos/crypto/keys.h"
#include "pmos/tlog/note.h"

namespace pmos::tlog {

// signed-note signature type bytes.
inline constexpr std::uint8_t kSignatureTypeEd25519 = 0x01;
inline constexpr std::uint8_t kSignatureTypeCosignatureV1 = 0x04;  // c2sp.org/tlog-cosignature

// SHA-256(name || 0x0A || type || public_key)[:4] as a big-endian integer.
std::uint32_t compute_key_id(std::string_view name, std::uint8_t type, BytesView public_key);

// A vkey split into its parts, syntax checked (valid name, exactly 8
// lower-case hex digits, strict base64 of at least one byte); the type and
// key id are not interpreted here.
struct VerifierKey {
  std::string name;
  std::uint32_t key_id = 0;
  std::uint8_t type = 0;
  Bytes public_key;
};
ErrorOr<VerifierKey> parse_vkey(std::string_view vkey);
std::string format_vkey(const VerifierKey& key);

// An Ed25519 note verifier (signature type 0x01). Immutable; thread-safe.
class Ed25519NoteVerifier final : public NoteVerifier {
 public:
  // Key id computed from name and key.
  static ErrorOr<Ed25519NoteVerifier> create(std::string_view name, BytesView public_key);
  // Refuses other types, wrong key lengths, and a key id that does not
  // match the name and key (a typo in a config file must not silently
  // select a different key).
  static ErrorOr<Ed25519NoteVerifier> from_vkey(std::string_view vkey);

  std::string vkey() const;
  BytesView public_key() const { return key_.bytes(); }

  std::string_view name() const override { return name_; }
  std::uint32_t key_id() const override { return key_id_; }
  ErrorOr<void> verify(std::string_view text, BytesView signature) const override;

 private:
  Ed25519NoteVerifier(std::string name, std::uint32_t key_id, crypto::PublicKey key)
      : name_(std::move(name)), key_id_(key_id), key_(std::move(key)) {}
  std::string name_;
  std::uint32_t key_id_;
  crypto::PublicKey key_;
};

// An Ed25519 note signer (type 0x01): the log's checkpoint key. The private
// key lives in libs/crypto's wiped storage. Immutable; thread-safe.
class Ed25519NoteSigner final : public NoteSigner {
 public:
  static ErrorOr<Ed25519NoteSigner> generate(std::string_view name);
  // Refuses anything but "PRIVATE+KEY+" + valid name + matching key id +
  // base64(0x01 || 32-byte seed).
  static ErrorOr<Ed25519NoteSigner> from_skey(std::string_view skey);

  // The skey text. Secret: store it like any private key.
  SecretBytes skey() const;
  Ed25519NoteVerifier verifier() const;

  std::string_view name() const override { return name_; }
  std::uint32_t key_id() const override { return key_id_; }
  ErrorOr<Bytes> sign(std::string_view text) const override;

 private:
  Ed25519NoteSigner(std::string name, std::uint32_t key_id, crypto::PrivateKey key)
      : name_(std::move(name)), key_id_(key_id), key_(std::move(key)) {}
  std::string name_;
  std::uint32_t key_id_;
  crypto::PrivateKey key_;
};

}  // namespace pmos::tlog

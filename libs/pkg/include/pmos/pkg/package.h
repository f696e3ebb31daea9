#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/crypto/keys.h"
#include "pmos/pkg/manifest.h"
#include "pmos/pkg/payload.h"

namespace pmos::pkg {

// The on-disk app package and everything signed about it. The byte layout is
// specified in docs/formats/package.md; each struct's tls_fields() is that
// layout in code.

using Digest = std::array<std::uint8_t, 32>;  // SHA-256
using KeyId = std::array<std::uint8_t, 32>;   // SHA-256 of an encoded SignerKey

inline constexpr std::array<std::uint8_t, 8> kPackageMagic = {'P', 'M', 'O', 'S', 'P', 'K', 'G', '\n'};
inline constexpr std::uint16_t kPackageFormatVersion = 1;

// Signature algorithms a package signer may use (TLS SignatureScheme code
// points). Only Ed25519 for now: every other value is refused when decoding,
// so an attacker cannot steer a verifier to a weaker algorithm.
enum class SignatureAlgorithm : std::uint16_t {
  kEd25519 = 0x0807,
};
bool tls_enum_valid(SignatureAlgorithm algorithm);

// A signer's public key as it travels in packages, records and key files.
struct SignerKey {
  SignatureAlgorithm algorithm = SignatureAlgorithm::kEd25519;
  Bytes public_key;  // Ed25519: the 32-byte RFC 8032 encoding
  static auto tls_fields(auto& self) { return std::tie(self.algorithm, self.public_key); }
  friend bool operator==(const SignerKey&, const SignerKey&) = default;

  // The full SHA-256 of this struct's encoding (algorithm included, so one
  // key string under two algorithms gets two ids). Full length, not a
  // prefix: ids are compared to decide trust, and a 32-byte id leaves no
  // room for a crafted collision.
  KeyId id() const;
  // Length check for the algorithm; decode_package() applies it.
  ErrorOr<void> validate() const;
  ErrorOr<crypto::PublicKey> to_public_key() const;
};
SignerKey signer_key_of(const crypto::PrivateKey& key);

// The developer's signature over the package digest.
struct DeveloperSignature {
  SignerKey key;
  Bytes signature;  // over developer_signed_message(digest)
  static auto tls_fields(auto& self) { return std::tie(self.key, self.signature); }
};

// What the authority attests by countersigning: this package (by digest),
// signed by this developer key, passed this app standard with this report.
struct VettingRecord {
  std::string app_id;
  std::uint64_t version_code = 0;
  Digest package_digest{};
  KeyId developer_key_id{};
  std::uint32_t standard_version = 0;
  Digest report_digest{};
  static auto tls_fields(auto& self) {
    return std::tie(self.app_id, self.version_code, self.package_digest, self.developer_key_id,
                    self.standard_version, self.report_digest);
  }
};

struct Countersignature {
  VettingRecord record;
  SignerKey authority_key;
  Bytes signature;  // over countersigned_message(record)
  static auto tls_fields(auto& self) {
    return std::tie(self.record, self.authority_key, self.signature);
  }
};

// "The developer key of `app_id` moves from `old_key` to `new_key`", signed
// by the old key. A device that pinned old_key accepts packages signed by
// new_key only with this statement (PinStore::admit).
struct RotationBody {
  std::string app_id;
  SignerKey old_key;
  SignerKey new_key;
  static auto tls_fields(auto& self) { return std::tie(self.app_id, self.old_key, self.new_key); }
};
struct RotationStatement {
  RotationBody body;
  Bytes signature;  // by body.old_key over rotation_signed_message(body)
  static auto tls_fields(auto& self) { return std::tie(self.body, self.signature); }
};

// The signed part: digest = SHA-256(encode(PackageContent)), i.e. of every
// byte of the file before the digest field.
struct PackageContent {
  std::array<std::uint8_t, 8> magic = kPackageMagic;
  std::uint16_t format_version = kPackageFormatVersion;
  Manifest manifest;
  std::vector<Entry> payload;
  static auto tls_fields(auto& self) {
    return std::tie(self.magic, self.format_version, self.manifest, self.payload);
  }
};

// A whole package file. Built by make_package(), signed by sign_package(),
// countersigned by countersign_package(); read by decode_package(). Plain
// data: holding one proves nothing until verify_package() (trust.h) says so.
struct Package {
  PackageContent content;
  Digest digest{};
  std::optional<DeveloperSignature> developer_signature;
  // Oldest first; the last one's new_key is the developer_signature key.
  std::vector<RotationStatement> rotations;
  std::optional<Countersignature> countersignature;
  static auto tls_fields(auto& self) {
    return std::tie(self.content, self.digest, self.developer_signature, self.rotations,
                    self.countersignature);
  }

  const Manifest& manifest() const { return content.manifest; }
  const std::vector<Entry>& payload() const { return content.payload; }
};

// The messages that are signed. Each starts with its own context string and a
// zero byte, so a signature made for one purpose is never valid for another.
Bytes developer_signed_message(const Digest& digest);
Bytes countersigned_message(const VettingRecord& record);
Bytes rotation_signed_message(const RotationBody& body);

Digest compute_digest(const PackageContent& content);

// An unsigned package of `manifest` and `payload` (sorted here), validated as
// decode_package() would validate it.
ErrorOr<Package> make_package(Manifest manifest, std::vector<Entry> payload);

// Strict: the codec's rules (no trailing bytes, minimal lengths, known enum
// values), then magic, format version, manifest and payload rules, key and
// signature lengths, and the digest. Signatures are NOT verified here.
ErrorOr<Package> decode_package(BytesView file);
Bytes encode_package(const Package& package);

// The package signed by `key`, replacing any earlier developer signature and
// dropping any countersignature (which named the old signer). `rotations`
// must link a previously pinned key to `key`; they are checked.
ErrorOr<Package> sign_package(Package package, const crypto::PrivateKey& key,
                              std::vector<RotationStatement> rotations = {});

// A statement, signed by `old_key`, that `app_id` moves to `new_key`.
ErrorOr<RotationStatement> make_rotation(std::string app_id, const crypto::PrivateKey& old_key,
                                         const SignerKey& new_key);
ErrorOr<RotationStatement> decode_rotation(BytesView bytes);

// Developer signature and rotation chain: present, well formed, verifying.
ErrorOr<void> verify_developer_signature(const Package& package);

}  // namespace pmos::pkg

#include "pmos/pkg/package.h"

#include <algorithm>
#include <cstring>

#include "pmos/base/codec.h"
#include "pmos/crypto/hash.h"
#include "pmos/crypto/signature.h"
#include "pmos/pkg/errors.h"

namespace pmos::pkg {
namespace {

constexpr std::size_t kEd25519PublicKeyBytes = 32;
constexpr std::size_t kEd25519SignatureBytes = 64;
// The codec's vectors stop at 2^30 - 1 bytes, and encoding a larger one of
// our own making aborts; so make_package refuses payloads that could come
// near it (content plus a generous per-entry overhead).
constexpr std::uint64_t kMaxPayloadBytes = (std::uint64_t{1} << 30) - (std::uint64_t{1} << 24);

constexpr std::string_view kDeveloperContext = "PMOS app package developer signature v1";
constexpr std::string_view kCountersignContext = "PMOS app package vetting record v1";
constexpr std::string_view kRotationContext = "PMOS developer key rotation v1";

Bytes with_context(std::string_view context, BytesView body) {
  Bytes message = to_bytes(context);
  message.push_back(0);
  append(message, body);
  return message;
}

template <std::size_t N>
std::array<std::uint8_t, N> to_array(const Bytes& bytes) {
  std::array<std::uint8_t, N> out{};
  std::memcpy(out.data(), bytes.data(), std::min(N, bytes.size()));
  return out;
}

ErrorOr<void> validate_signature_length(const Bytes& signature) {
  if (signature.size() != kEd25519SignatureBytes) return Error::decode("Ed25519 signature is not 64 bytes");
  return {};
}

ErrorOr<void> verify_with(const SignerKey& key, BytesView message, const Bytes& signature) {
  crypto::PublicKey public_key = TRY(key.to_public_key());
  return crypto::ed25519().verify(public_key, message, signature);
}

}  // namespace

bool tls_enum_valid(SignatureAlgorithm algorithm) { return algorithm == SignatureAlgorithm::kEd25519; }

KeyId SignerKey::id() const {
  return to_array<32>(crypto::sha256().digest(tls::encode(*this)));
}

ErrorOr<void> SignerKey::validate() const {
  if (algorithm != SignatureAlgorithm::kEd25519) return Error::unsupported("signer key algorithm");
  if (public_key.size() != kEd25519PublicKeyBytes) return Error::decode("Ed25519 public key is not 32 bytes");
  return {};
}

ErrorOr<crypto::PublicKey> SignerKey::to_public_key() const {
  TRY(validate());
  return crypto::ed25519().public_key(public_key);
}

SignerKey signer_key_of(const crypto::PrivateKey& key) {
  return SignerKey{SignatureAlgorithm::kEd25519, to_bytes(key.public_key().bytes())};
}

Bytes developer_signed_message(const Digest& digest) { return with_context(kDeveloperContext, digest); }
Bytes countersigned_message(const VettingRecord& record) {
  return with_context(kCountersignContext, tls::encode(record));
}
Bytes rotation_signed_message(const RotationBody& body) {
  return with_context(kRotationContext, tls::encode(body));
}

Digest compute_digest(const PackageContent& content) {
  return to_array<32>(crypto::sha256().digest(tls::encode(content)));
}

namespace {

ErrorOr<void> validate_content(const PackageContent& content) {
  if (content.magic != kPackageMagic) return errors::kBadMagic;
  if (content.format_version != kPackageFormatVersion) return errors::kUnsupportedFormat;
  TRY(content.manifest.validate());
  TRY(validate_payload(content.payload));
  return {};
}

ErrorOr<void> validate_rotation(const RotationStatement& rotation) {
  TRY(rotation.body.old_key.validate());
  TRY(rotation.body.new_key.validate());
  TRY(validate_signature_length(rotation.signature));
  return {};
}

}  // namespace

ErrorOr<Package> make_package(Manifest manifest, std::vector<Entry> payload) {
  std::uint64_t total = 0;
  for (const Entry& entry : payload) total += entry.content.size() + entry.path.size() + 32;
  if (total > kMaxPayloadBytes) return errors::kPackageTooLarge;
  std::sort(payload.begin(), payload.end(), [](const Entry& a, const Entry& b) { return a.path < b.path; });
  Package package;
  package.content.manifest = std::move(manifest);
  package.content.payload = std::move(payload);
  TRY(validate_content(package.content));
  package.digest = compute_digest(package.content);
  return package;
}

ErrorOr<Package> decode_package(BytesView file) {
  // The magic first, so that a wrong file gets the clear message rather than
  // whatever the codec makes of it.
  if (file.size() < kPackageMagic.size() ||
      !std::equal(kPackageMagic.begin(), kPackageMagic.end(), file.begin()))
    return errors::kBadMagic;
  Package package = TRY(tls::decode<Package>(file));
  TRY(validate_content(package.content));
  if (package.developer_signature) {
    TRY(package.developer_signature->key.validate());
    TRY(validate_signature_length(package.developer_signature->signature));
  } else {
    if (package.countersignature) return errors::kCountersignatureWithoutSignature;
    if (!package.rotations.empty()) return errors::kRotationWithoutSignature;
  }
  for (const RotationStatement& rotation : package.rotations) TRY(validate_rotation(rotation));
  if (package.countersignature) {
    TRY(package.countersignature->authority_key.validate());
    TRY(validate_signature_length(package.countersignature->signature));
  }
  // Digests are public; an ordinary comparison leaks nothing.
  if (compute_digest(package.content) != package.digest) return errors::kDigestMismatch;
  return package;
}

Bytes encode_package(const Package& package) { return tls::encode(package); }

ErrorOr<Package> sign_package(Package package, const crypto::PrivateKey& key,
                              std::vector<RotationStatement> rotations) {
  SignerKey signer = signer_key_of(key);
  Bytes signature = TRY(crypto::ed25519().sign(key, developer_signed_message(package.digest)));
  package.developer_signature = DeveloperSignature{std::move(signer), std::move(signature)};
  package.rotations = std::move(rotations);
  // A countersignature vouches for the previous signer; it must be redone.
  package.countersignature.reset();
  TRY(verify_developer_signature(package));
  return package;
}

ErrorOr<RotationStatement> make_rotation(std::string app_id, const crypto::PrivateKey& old_key,
                                         const SignerKey& new_key) {
  if (!is_valid_app_id(app_id)) return Error::invalid_argument("rotation: app id is not valid");
  TRY(new_key.validate());
  RotationStatement rotation;
  rotation.body = RotationBody{std::move(app_id), signer_key_of(old_key), new_key};
  if (rotation.body.old_key == rotation.body.new_key)
    return Error::invalid_argument("rotation: old and new key are the same");
  rotation.signature = TRY(crypto::ed25519().sign(old_key, rotation_signed_message(rotation.body)));
  return rotation;
}

ErrorOr<RotationStatement> decode_rotation(BytesView bytes) {
  RotationStatement rotation = TRY(tls::decode<RotationStatement>(bytes));
  TRY(validate_rotation(rotation));
  if (!is_valid_app_id(rotation.body.app_id)) return Error::decode("rotation: app id is not valid");
  return rotation;
}

ErrorOr<void> verify_developer_signature(const Package& package) {
  if (!package.developer_signature) return errors::kMissingDeveloperSignature;
  const DeveloperSignature& signature = *package.developer_signature;
  if (!verify_with(signature.key, developer_signed_message(package.digest), signature.signature))
    return errors::kBadDeveloperSignature;
  // The chain: each statement is for this app, signed by its old key, and
  // hands over to the next statement's old key; the last hands over to the
  // key that signed the package.
  for (std::size_t i = 0; i < package.rotations.size(); ++i) {
    const RotationStatement& rotation = package.rotations[i];
    const SignerKey& next = i + 1 < package.rotations.size() ? package.rotations[i + 1].body.old_key
                                                             : signature.key;
    if (rotation.body.app_id != package.manifest().app_id || rotation.body.new_key != next ||
        rotation.body.old_key == rotation.body.new_key)
      return errors::kBadRotationStatement;
    if (!verify_with(rotation.body.old_key, rotation_signed_message(rotation.body), rotation.signature))
      return errors::kBadRotationStatement;
  }
  return {};
}

}  // namespace pmos::pkg

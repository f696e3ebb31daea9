#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "pmos/crypto/keys.h"
#include "pmos/pkg/package.h"
#include "pmos/pkg/standard.h"
#include "pmos/pkg/vet.h"

namespace pmos::pkg {

// The authority keys a device (or a verifier) accepts countersignatures from.
// Configured, never learned from packages. Immutable value; thread-safe.
class TrustAnchors {
 public:
  explicit TrustAnchors(std::vector<SignerKey> authority_keys)
      : authority_keys_(std::move(authority_keys)) {}
  bool is_authority(const SignerKey& key) const;
  const std::vector<SignerKey>& authority_keys() const { return authority_keys_; }

 private:
  std::vector<SignerKey> authority_keys_;
};

// Vets `package` against `standard` and, only if it passes, returns it
// countersigned by `authority_key` with the vetting record. The package must
// carry a valid developer signature (the record names its key).
ErrorOr<Package> countersign_package(Package package, const AppStandard& standard,
                                     const crypto::PrivateKey& authority_key);

// What verify_package() established about a package: only it makes one, so
// holding a VerifiedPackage means every check passed.
class VerifiedPackage {
 public:
  const std::string& app_id() const { return app_id_; }
  std::uint64_t version_code() const { return version_code_; }
  const SignerKey& developer_key() const { return developer_key_; }
  const std::vector<RotationStatement>& rotations() const { return rotations_; }
  const Digest& digest() const { return digest_; }
  const SignerKey& authority_key() const { return authority_key_; }
  const VetReport& report() const { return report_; }

 private:
  friend ErrorOr<VerifiedPackage> verify_package(const Package&, const TrustAnchors&,
                                                 const AppStandard&);
  VerifiedPackage() = default;
  std::string app_id_;
  std::uint64_t version_code_ = 0;
  SignerKey developer_key_;
  std::vector<RotationStatement> rotations_;
  Digest digest_{};
  SignerKey authority_key_;
  VetReport report_;
};

// Everything a device checks before it installs a package, in this order, each
// failure its own error (errors.h): developer signature present and valid;
// rotation chain valid; countersignature present; by a configured authority
// key; valid; its record matches the package (app id, version, digest) and
// the developer key; the package passes `standard` now; and if the record was
// made against this same standard version, the report digests agree.
ErrorOr<VerifiedPackage> verify_package(const Package& package, const TrustAnchors& anchors,
                                        const AppStandard& standard);

// Per-app signer continuity on a device: which developer key each installed
// app is pinned to and which version is installed. A value: admit() returns
// the next store and leaves this one alone, so a failed install keeps the
// previous pins. Not thread-safe to mutate; copies are independent.
class PinStore {
 public:
  struct Pin {
    std::string app_id;
    SignerKey developer_key;
    std::uint64_t version_code = 0;
    static auto tls_fields(auto& self) {
      return std::tie(self.app_id, self.developer_key, self.version_code);
    }
  };

  const Pin* find(std::string_view app_id) const;
  const std::vector<Pin>& pins() const { return pins_; }

  // First install pins the package's developer key. Later ones must grow the
  // version code (kDowngrade) and be signed by the pinned key or by a key the
  // package's rotation statements link to it (kKeyChangeWithoutRotation);
  // the pin then moves to the new key.
  ErrorOr<PinStore> admit(const VerifiedPackage& package) const;
  // The app is gone: so is its pin (a reinstall is a first install).
  PinStore without(std::string_view app_id) const;

  // Persistence: the codec encoding of the sorted pin list.
  Bytes encode() const;
  static ErrorOr<PinStore> decode(BytesView bytes);

 private:
  std::vector<Pin> pins_;  // sorted by app_id, unique
};

}  // namespace pmos::pkg

#include "pmos/pkg/trust.h"

#include <algorithm>

#include "pmos/base/codec.h"
#include "pmos/crypto/signature.h"
#include "pmos/pkg/errors.h"

namespace pmos::pkg {

bool TrustAnchors::is_authority(const SignerKey& key) const {
  return std::find(authority_keys_.begin(), authority_keys_.end(), key) != authority_keys_.end();
}

ErrorOr<Package> countersign_package(Package package, const AppStandard& standard,
                                     const crypto::PrivateKey& authority_key) {
  if (package.countersignature) return errors::kAlreadyCountersigned;
  TRY(verify_developer_signature(package));
  VetReport report = vet(package, standard);
  // The authority's signature is the only thing a device trusts about
  // content; signing a failing package would let it past every device.
  if (!report.passed()) return errors::kFailsStandard;
  Countersignature countersignature;
  countersignature.record = VettingRecord{package.manifest().app_id,
                                          package.manifest().version_code,
                                          package.digest,
                                          package.developer_signature->key.id(),
                                          standard.version,
                                          report.digest()};
  countersignature.authority_key = signer_key_of(authority_key);
  countersignature.signature =
      TRY(crypto::ed25519().sign(authority_key, countersigned_message(countersignature.record)));
  package.countersignature = std::move(countersignature);
  return package;
}

ErrorOr<VerifiedPackage> verify_package(const Package& package, const TrustAnchors& anchors,
                                        const AppStandard& standard) {
  TRY(verify_developer_signature(package));
  if (!package.countersignature) return errors::kMissingCountersignature;
  const Countersignature& countersignature = *package.countersignature;
  // Checked before the signature: a valid signature by a key we do not
  // trust proves nothing, and saying "bad signature" would hide the reason.
  if (!anchors.is_authority(countersignature.authority_key)) return errors::kUnknownAuthorityKey;
  auto authority_key = TRY(countersignature.authority_key.to_public_key());
  if (!crypto::ed25519().verify(authority_key, countersigned_message(countersignature.record),
                                countersignature.signature))
    return errors::kBadCountersignature;

  const VettingRecord& record = countersignature.record;
  const Manifest& manifest = package.manifest();
  if (record.app_id != manifest.app_id || record.version_code != manifest.version_code ||
      record.package_digest != package.digest)
    return errors::kRecordMismatch;
  // Without this, anyone could re-sign a vetted package with their own key
  // and ride on its countersignature to become its pinned developer.
  if (record.developer_key_id != package.developer_signature->key.id())
    return errors::kRecordDeveloperMismatch;

  // The device re-vets against the standard it holds now: a standard that
  // tightened since vetting applies to packages vetted before it.
  VetReport report = vet(package, standard);
  if (!report.passed()) return errors::kFailsStandard;
  if (record.standard_version == standard.version && record.report_digest != report.digest())
    return errors::kReportMismatch;

  VerifiedPackage verified;
  verified.app_id_ = manifest.app_id;
  verified.version_code_ = manifest.version_code;
  verified.developer_key_ = package.developer_signature->key;
  verified.rotations_ = package.rotations;
  verified.digest_ = package.digest;
  verified.authority_key_ = countersignature.authority_key;
  verified.report_ = std::move(report);
  return verified;
}

const PinStore::Pin* PinStore::find(std::string_view app_id) const {
  auto it = std::lower_bound(pins_.begin(), pins_.end(), app_id,
                             [](const Pin& pin, std::string_view id) { return pin.app_id < id; });
  return it != pins_.end() && it->app_id == app_id ? &*it : nullptr;
}

ErrorOr<PinStore> PinStore::admit(const VerifiedPackage& package) const {
  PinStore next = *this;
  Pin pin{package.app_id(), package.developer_key(), package.version_code()};
  auto it = std::lower_bound(next.pins_.begin(), next.pins_.end(), pin.app_id,
                             [](const Pin& p, std::string_view id) { return p.app_id < id; });
  if (it == next.pins_.end() || it->app_id != pin.app_id) {
    // Trust on first install: the countersignature vouches for this key.
    next.pins_.insert(it, std::move(pin));
    return next;
  }
  // An older (or the same) version, even one properly signed and vetted,
  // may carry a fixed vulnerability: replaying it is a downgrade attack.
  if (package.version_code() <= it->version_code) return errors::kDowngrade;
  if (package.developer_key() != it->developer_key) {
    // verify_package() checked the chain links up to the signing key; it
    // must start at (or pass through) the key this device pinned.
    const auto& rotations = package.rotations();
    bool linked = std::any_of(rotations.begin(), rotations.end(), [&](const RotationStatement& r) {
      return r.body.old_key == it->developer_key;
    });
    if (!linked) return errors::kKeyChangeWithoutRotation;
  }
  *it = std::move(pin);
  return next;
}

PinStore PinStore::without(std::string_view app_id) const {
  PinStore next = *this;
  std::erase_if(next.pins_, [&](const Pin& pin) { return pin.app_id == app_id; });
  return next;
}

Bytes PinStore::encode() const { return tls::encode(pins_); }

ErrorOr<PinStore> PinStore::decode(BytesView bytes) {
  PinStore store;
  store.pins_ = TRY(tls::decode<std::vector<Pin>>(bytes));
  for (std::size_t i = 0; i < store.pins_.size(); ++i) {
    if (!is_valid_app_id(store.pins_[i].app_id)) return Error::decode("pin store: invalid app id");
    TRY(store.pins_[i].developer_key.validate());
    if (i > 0 && !(store.pins_[i - 1].app_id < store.pins_[i].app_id))
      return Error::decode("pin store: pins are not sorted by app id, or one repeats");
  }
  return store;
}

}  // namespace pmos::pkg

#include "pmos/pkg/trust.h"

#include <gtest/gtest.h>

#include "pmos/base/codec.h"
#include "pmos/pkg/errors.h"
#include "test_util.h"

namespace pmos::pkg {
namespace {

using testing::file;
using testing::new_key;
using testing::sample_package;
using testing::sample_standard;

class TrustTest : public ::testing::Test {
 protected:
  crypto::PrivateKey developer_ = new_key();
  crypto::PrivateKey authority_ = new_key();
  AppStandard standard_ = sample_standard();
  TrustAnchors anchors_{{signer_key_of(authority_)}};

  Package release(std::uint64_t version, const crypto::PrivateKey& developer,
                  std::vector<RotationStatement> rotations = {}) {
    Package package = sample_package();
    package.content.manifest.version_code = version;
    package.digest = compute_digest(package.content);
    package = sign_package(std::move(package), developer, std::move(rotations)).value();
    return countersign_package(std::move(package), standard_, authority_).value();
  }
  Package release(std::uint64_t version) { return release(version, developer_); }

  VerifiedPackage verified(const Package& package) {
    auto result = verify_package(package, anchors_, standard_);
    EXPECT_TRUE(result.has_value()) << result.error().to_string();
    return std::move(result).value();
  }
};

TEST_F(TrustTest, SignCountersignVerifyRoundTrip) {
  Package package = release(7);
  auto decoded = decode_package(encode_package(package));
  ASSERT_TRUE(decoded.has_value());
  VerifiedPackage v = verified(*decoded);
  EXPECT_EQ(v.app_id(), "org.agency.notes");
  EXPECT_EQ(v.version_code(), 7u);
  EXPECT_EQ(v.developer_key(), signer_key_of(developer_));
  EXPECT_EQ(v.authority_key(), signer_key_of(authority_));
  EXPECT_TRUE(v.report().passed());
  const VettingRecord& record = package.countersignature->record;
  EXPECT_EQ(record.app_id, "org.agency.notes");
  EXPECT_EQ(record.version_code, 7u);
  EXPECT_EQ(record.package_digest, package.digest);
  EXPECT_EQ(record.developer_key_id, signer_key_of(developer_).id());
  EXPECT_EQ(record.standard_version, 3u);
  EXPECT_EQ(record.report_digest, vet(package, standard_).digest());
}

TEST_F(TrustTest, RefusesMissingOrBadDeveloperSignature) {
  Package package = release(7);
  Package unsigned_package = package;
  unsigned_package.developer_signature.reset();
  EXPECT_EQ(verify_package(unsigned_package, anchors_, standard_).error(), errors::kMissingDeveloperSignature);
  Package bad = package;
  bad.developer_signature->signature[0] ^= 1;
  EXPECT_EQ(verify_package(bad, anchors_, standard_).error(), errors::kBadDeveloperSignature);
}

TEST_F(TrustTest, RefusesMissingOrBadCountersignature) {
  Package signed_only = sign_package(sample_package(), developer_).value();
  EXPECT_EQ(verify_package(signed_only, anchors_, standard_).error(), errors::kMissingCountersignature);
  Package bad = release(7);
  bad.countersignature->signature[63] ^= 0x80;
  EXPECT_EQ(verify_package(bad, anchors_, standard_).error(), errors::kBadCountersignature);
  // A record altered after signing no longer verifies.
  bad = release(7);
  bad.countersignature->record.standard_version = 99;
  EXPECT_EQ(verify_package(bad, anchors_, standard_).error(), errors::kBadCountersignature);
}

TEST_F(TrustTest, RefusesUnknownAuthorityKey) {
  crypto::PrivateKey impostor = new_key();
  Package package = sign_package(sample_package(), developer_).value();
  package = countersign_package(std::move(package), standard_, impostor).value();
  EXPECT_EQ(verify_package(package, anchors_, standard_).error(), errors::kUnknownAuthorityKey);
  // Trusted once configured; several authority keys may be configured.
  TrustAnchors both({signer_key_of(authority_), signer_key_of(impostor)});
  EXPECT_TRUE(verify_package(package, both, standard_).has_value());
  EXPECT_EQ(verify_package(package, TrustAnchors({}), standard_).error(), errors::kUnknownAuthorityKey);
}

TEST_F(TrustTest, RefusesPackagesFailingTheStandard) {
  // The authority will not countersign a failing package ...
  Package failing = sample_package({file("setuid", "x", 04755)});
  failing = sign_package(std::move(failing), developer_).value();
  EXPECT_EQ(countersign_package(failing, standard_, authority_).error(), errors::kFailsStandard);
  // ... and a device re-vets against its own, possibly stricter, standard.
  Package package = release(7);
  AppStandard stricter = standard_;
  stricter.version = 4;
  stricter.categories[0].capabilities = {Capability::kNotifications};  // files no longer granted
  ASSERT_EQ(stricter.categories[0].category, AppCategory::kProductivity);
  EXPECT_EQ(verify_package(package, anchors_, stricter).error(), errors::kFailsStandard);
  // A newer standard that the package still passes is fine.
  AppStandard newer = standard_;
  newer.version = 4;
  EXPECT_TRUE(verify_package(package, anchors_, newer).has_value());
}

TEST_F(TrustTest, RefusesReportDigestThatDiffersUnderTheSameStandardVersion) {
  // The same version number but different content: the authority and the
  // device disagree about what standard 3 says.
  Package package = release(7);
  AppStandard changed = standard_;
  changed.limits.max_files = 99;
  EXPECT_EQ(verify_package(package, anchors_, changed).error(), errors::kReportMismatch);
}

TEST_F(TrustTest, RefusesRecordThatDoesNotDescribeThePackage) {
  // A countersignature lifted from another version of the app.
  Package v7 = release(7);
  Package v8 = release(8);
  Package mixed = v8;
  mixed.countersignature = v7.countersignature;
  EXPECT_EQ(verify_package(mixed, anchors_, standard_).error(), errors::kRecordMismatch);
  // The vetted package re-signed by someone else: record names the original developer.
  crypto::PrivateKey thief = new_key();
  Package resigned = v7;
  Countersignature kept = *resigned.countersignature;
  resigned = sign_package(std::move(resigned), thief).value();
  resigned.countersignature = kept;
  EXPECT_EQ(verify_package(resigned, anchors_, standard_).error(), errors::kRecordDeveloperMismatch);
}

TEST_F(TrustTest, CountersigningTwiceIsRefused) {
  EXPECT_EQ(countersign_package(release(7), standard_, authority_).error(), errors::kAlreadyCountersigned);
}

TEST_F(TrustTest, PinsOnFirstInstallAndRefusesDowngrades) {
  PinStore empty;
  PinStore pins = empty.admit(verified(release(7))).value();
  ASSERT_NE(pins.find("org.agency.notes"), nullptr);
  EXPECT_EQ(pins.find("org.agency.notes")->developer_key, signer_key_of(developer_));
  EXPECT_EQ(pins.find("org.agency.notes")->version_code, 7u);
  EXPECT_EQ(empty.find("org.agency.notes"), nullptr);  // admit() returned a new value

  EXPECT_EQ(pins.admit(verified(release(6))).error(), errors::kDowngrade);
  EXPECT_EQ(pins.admit(verified(release(7))).error(), errors::kDowngrade);  // same version: replay
  PinStore updated = pins.admit(verified(release(8))).value();
  EXPECT_EQ(updated.find("org.agency.notes")->version_code, 8u);
  EXPECT_EQ(pins.find("org.agency.notes")->version_code, 7u);  // failed or not, the old store is intact
  // Removing the app drops the pin.
  EXPECT_EQ(updated.without("org.agency.notes").find("org.agency.notes"), nullptr);
}

TEST_F(TrustTest, KeyChangeNeedsARotationStatementByThePinnedKey) {
  PinStore pins = PinStore().admit(verified(release(7))).value();
  crypto::PrivateKey next = new_key();
  EXPECT_EQ(pins.admit(verified(release(8, next))).error(), errors::kKeyChangeWithoutRotation);

  // A rotation signed by some other key (here by the new key itself) is no
  // link from the pinned key.
  crypto::PrivateKey stranger = new_key();
  RotationStatement unrelated = make_rotation("org.agency.notes", stranger, signer_key_of(next)).value();
  EXPECT_EQ(pins.admit(verified(release(8, next, {unrelated}))).error(), errors::kKeyChangeWithoutRotation);

  RotationStatement rotation = make_rotation("org.agency.notes", developer_, signer_key_of(next)).value();
  PinStore rotated = pins.admit(verified(release(8, next, {rotation}))).value();
  EXPECT_EQ(rotated.find("org.agency.notes")->developer_key, signer_key_of(next));
  // The old key is no longer accepted once the pin moved.
  EXPECT_EQ(rotated.admit(verified(release(9))).error(), errors::kKeyChangeWithoutRotation);
  // A device that missed a release follows a chain of two rotations.
  crypto::PrivateKey third = new_key();
  RotationStatement second = make_rotation("org.agency.notes", next, signer_key_of(third)).value();
  EXPECT_TRUE(pins.admit(verified(release(10, third, {rotation, second}))).has_value());
}

TEST_F(TrustTest, RefusesBadRotationStatements) {
  crypto::PrivateKey next = new_key();
  RotationStatement rotation = make_rotation("org.agency.notes", developer_, signer_key_of(next)).value();
  Package package = sign_package(sample_package(), next, {rotation}).value();
  ASSERT_TRUE(verify_developer_signature(package).has_value());

  Package forged = package;
  forged.rotations[0].signature[5] ^= 1;
  EXPECT_EQ(verify_developer_signature(forged).error(), errors::kBadRotationStatement);
  // A statement for another app cannot be reused.
  RotationStatement other_app = make_rotation("org.agency.maps", developer_, signer_key_of(next)).value();
  EXPECT_FALSE(sign_package(sample_package(), next, {other_app}).has_value());
  // The chain must end at the signing key.
  crypto::PrivateKey elsewhere = new_key();
  RotationStatement dangling = make_rotation("org.agency.notes", developer_, signer_key_of(elsewhere)).value();
  EXPECT_FALSE(sign_package(sample_package(), next, {dangling}).has_value());
  // Statements survive their file form.
  auto decoded = decode_rotation(tls::encode(rotation));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(tls::encode(*decoded), tls::encode(rotation));
  Bytes trailing = tls::encode(rotation);
  trailing.push_back(0);
  EXPECT_FALSE(decode_rotation(trailing).has_value());
}

TEST_F(TrustTest, PinStorePersists) {
  PinStore pins = PinStore().admit(verified(release(7))).value();
  Bytes bytes = pins.encode();
  auto decoded = PinStore::decode(bytes);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->encode(), bytes);
  EXPECT_EQ(decoded->find("org.agency.notes")->version_code, 7u);
  EXPECT_EQ(decoded->admit(verified(release(7))).error(), errors::kDowngrade);
  bytes.push_back(0);
  EXPECT_FALSE(PinStore::decode(bytes).has_value());
}

// Changing any single byte of a countersigned package file must make it
// fail: to decode, or to verify. Nothing in the file is unauthenticated.
TEST_F(TrustTest, TamperingWithAnyByteIsDetected) {
  crypto::PrivateKey next = new_key();
  RotationStatement rotation = make_rotation("org.agency.notes", developer_, signer_key_of(next)).value();
  Bytes original = encode_package(release(7, next, {rotation}));
  ASSERT_TRUE(verify_package(decode_package(original).value(), anchors_, standard_).has_value());
  for (std::size_t i = 0; i < original.size(); ++i) {
    for (std::uint8_t flip : {std::uint8_t{0x01}, std::uint8_t{0x80}}) {
      Bytes tampered = original;
      tampered[i] ^= flip;
      auto decoded = decode_package(tampered);
      if (!decoded) continue;
      EXPECT_FALSE(verify_package(*decoded, anchors_, standard_).has_value())
          << "byte " << i << " flip " << int(flip) << " went undetected";
    }
  }
}

}  // namespace
}  // namespace pmos::pkg

#include "pmos/device/app_store.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "pmos/base/file.h"
#include "pmos/pkg/errors.h"
#include "pmos/pkg/trust.h"
#include "test_util.h"

namespace pmos::device {
namespace {

namespace fs = std::filesystem;
using namespace pkg::testing;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class AppStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    authority_ = new_key();
    developer_ = new_key();
    device_key_ = new_key();
    state_ = (dir_.path() / "state").string();
    ASSERT_EQ(::mkdir(state_.c_str(), 0711), 0);
    audit_ = AuditLog::open(state_ + "/audit.log", state_ + "/audit.head", device_key_).value();
    store_ = open_store(sample_standard());
  }

  std::unique_ptr<AppStore> open_store(pkg::AppStandard standard) {
    auto store = AppStore::open(state_, pkg::TrustAnchors({pkg::signer_key_of(authority_)}), std::move(standard),
                                *audit_, {});
    EXPECT_TRUE(store.has_value()) << store.error().to_string();
    return std::move(store).value();
  }

  // A package of `version` whose bin/notes says `text`, signed by `developer`
  // (with `rotations`) and countersigned by `authority` against `standard`.
  Bytes make(std::uint64_t version, const std::string& text, const crypto::PrivateKey& developer,
             const crypto::PrivateKey& authority, std::vector<pkg::RotationStatement> rotations = {},
             const pkg::AppStandard& standard = sample_standard(), std::vector<pkg::Entry> extra = {}) {
    pkg::Manifest manifest = sample_manifest();
    manifest.version_code = version;
    std::vector<pkg::Entry> payload = {directory("bin"), file("bin/notes", "#!/bin/sh\necho " + text + "\n", 0755)};
    for (pkg::Entry& e : extra) payload.push_back(std::move(e));
    pkg::Package package = pkg::make_package(manifest, std::move(payload)).value();
    package = pkg::sign_package(std::move(package), developer, std::move(rotations)).value();
    package = pkg::countersign_package(std::move(package), standard, authority).value();
    return pkg::encode_package(package);
  }
  Bytes make(std::uint64_t version, const std::string& text) { return make(version, text, developer_, authority_); }

  std::string installed_script() const { return slurp(fs::path(store_->package_dir("org.agency.notes")) / "bin/notes"); }

  // The installed version is exactly v7 "one", as first installed.
  void expect_v7_intact() {
    auto app = store_->find("org.agency.notes");
    ASSERT_TRUE(app.has_value()) << app.error().to_string();
    EXPECT_EQ(app->manifest.version_code, 7u);
    EXPECT_EQ(app->digest, v7_digest_);
    EXPECT_EQ(installed_script(), "#!/bin/sh\necho one\n");
    EXPECT_EQ(slurp(fs::path(store_->data_dir("org.agency.notes")) / "notes.txt"), "user data");
    auto apps = store_->list();
    ASSERT_TRUE(apps.has_value());
    EXPECT_EQ(apps->size(), 1u);
    // Nothing staged was left behind.
    for (const auto& entry : fs::directory_iterator(state_ + "/apps"))
      EXPECT_EQ(entry.path().filename(), "org.agency.notes");
  }

  void install_v7() {
    auto result = store_->install(make(7, "one"));
    ASSERT_TRUE(result.has_value()) << result.error().to_string();
    v7_digest_ = result->app.digest;
    std::ofstream(fs::path(store_->data_dir("org.agency.notes")) / "notes.txt") << "user data";
  }

  void expect_refused(BytesView package, const Error& expected) {
    std::uint64_t before = audit_->count();
    auto result = store_->install(package);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error(), expected) << result.error().to_string();
    EXPECT_EQ(audit_->count(), before + 1) << "the refusal is audited";
    expect_v7_intact();
  }

  std::vector<AuditEntry> audit_entries() const {
    return decode_audit_log(read_file(state_ + "/audit.log").value()).value();
  }

  TempDir dir_;
  crypto::PrivateKey authority_, developer_, device_key_;
  std::string state_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<AppStore> store_;
  pkg::Digest v7_digest_{};
};

TEST_F(AppStoreTest, InstallUpdateRemove) {
  auto result = store_->install(make(7, "one"));
  ASSERT_TRUE(result.has_value()) << result.error().to_string();
  EXPECT_FALSE(result->previous_version.has_value());
  EXPECT_EQ(installed_script(), "#!/bin/sh\necho one\n");
  struct stat st {};
  ASSERT_EQ(::stat((store_->package_dir("org.agency.notes") + "/bin/notes").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(::stat(store_->data_dir("org.agency.notes").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  std::ofstream(fs::path(store_->data_dir("org.agency.notes")) / "notes.txt") << "kept";

  auto update = store_->install(make(8, "two"));
  ASSERT_TRUE(update.has_value()) << update.error().to_string();
  EXPECT_EQ(update->previous_version, 7u);
  EXPECT_EQ(installed_script(), "#!/bin/sh\necho two\n");
  EXPECT_EQ(slurp(fs::path(store_->data_dir("org.agency.notes")) / "notes.txt"), "kept");
  EXPECT_EQ(store_->find("org.agency.notes")->manifest.version_code, 8u);

  ASSERT_TRUE(store_->remove("org.agency.notes"));
  EXPECT_EQ(store_->find("org.agency.notes").error().category(), ErrorCategory::kNotFound);
  EXPECT_FALSE(fs::exists(store_->data_dir("org.agency.notes")));
  EXPECT_TRUE(store_->list()->empty());
  EXPECT_EQ(store_->remove("org.agency.notes").error().category(), ErrorCategory::kNotFound);

  auto entries = audit_entries();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].body.event, AuditEvent::kInstall);
  EXPECT_EQ(entries[1].body.event, AuditEvent::kUpdate);
  EXPECT_NE(entries[1].body.detail.find("replaces version 7"), std::string::npos);
  EXPECT_EQ(entries[2].body.event, AuditEvent::kRemove);
  // A removed app's pin is gone with it: a reinstall is a first install.
  EXPECT_TRUE(store_->install(make(3, "again", new_key(), authority_)).has_value());
}

TEST_F(AppStoreTest, RefusesMissingDeveloperSignature) {
  install_v7();
  pkg::Manifest manifest = sample_manifest();
  manifest.version_code = 8;
  pkg::Package unsigned_package = pkg::make_package(manifest, {directory("bin"), file("bin/notes", "x", 0755)}).value();
  expect_refused(pkg::encode_package(unsigned_package), pkg::errors::kMissingDeveloperSignature);
}

TEST_F(AppStoreTest, RefusesBadDeveloperSignature) {
  install_v7();
  pkg::Package package = pkg::decode_package(make(8, "two")).value();
  package.developer_signature->signature[5] ^= 0x40;
  expect_refused(pkg::encode_package(package), pkg::errors::kBadDeveloperSignature);
}

TEST_F(AppStoreTest, RefusesMissingCountersignature) {
  install_v7();
  pkg::Package package = pkg::decode_package(make(8, "two")).value();
  package.countersignature.reset();
  expect_refused(pkg::encode_package(package), pkg::errors::kMissingCountersignature);
}

TEST_F(AppStoreTest, RefusesUnknownAuthorityKey) {
  install_v7();
  expect_refused(make(8, "two", developer_, new_key()), pkg::errors::kUnknownAuthorityKey);
}

TEST_F(AppStoreTest, RefusesBadCountersignature) {
  install_v7();
  pkg::Package package = pkg::decode_package(make(8, "two")).value();
  package.countersignature->signature[0] ^= 0x01;
  expect_refused(pkg::encode_package(package), pkg::errors::kBadCountersignature);
}

TEST_F(AppStoreTest, RefusesAPackageThatFailsTheDevicesStandard) {
  // Vetted and countersigned under the authority's standard, but the device
  // now holds a tighter one (files of at most 1000 bytes).
  pkg::AppStandard tighter = pkg::AppStandard::from_json(R"({
    "pmos_app_standard": 1, "version": 4,
    "categories": {"productivity": {"capabilities": ["notifications", "files"], "network": true}},
    "allowed_endpoints": ["*.agency.example:443"],
    "hardening": {"pie": false, "full_relro": false, "nx_stack": false, "stack_protector": false, "fortify": false},
    "limits": {"max_total_bytes": 1000000, "max_file_bytes": 1000, "max_files": 100}})").value();
  install_v7();
  store_ = open_store(tighter);
  Bytes big = make(8, "two", developer_, authority_, {}, sample_standard(),
                   {directory("share"), file("share/big.txt", std::string(5000, 'x'))});
  expect_refused(big, pkg::errors::kFailsStandard);
}

TEST_F(AppStoreTest, RefusesDowngradeAndReplay) {
  install_v7();
  expect_refused(make(6, "old"), pkg::errors::kDowngrade);
  expect_refused(make(7, "one"), pkg::errors::kDowngrade);
}

TEST_F(AppStoreTest, RefusesKeyChangeWithoutRotationAndAcceptsWithOne) {
  install_v7();
  crypto::PrivateKey new_developer = new_key();
  expect_refused(make(8, "two", new_developer, authority_), pkg::errors::kKeyChangeWithoutRotation);
  auto rotation = pkg::make_rotation("org.agency.notes", developer_, pkg::signer_key_of(new_developer)).value();
  auto result = store_->install(make(8, "two", new_developer, authority_, {rotation}));
  ASSERT_TRUE(result.has_value()) << result.error().to_string();
  EXPECT_EQ(result->app.developer_key, pkg::signer_key_of(new_developer));
  // The pin moved: the old key is now the stranger.
  auto old_key_again = store_->install(make(9, "three", developer_, authority_));
  ASSERT_FALSE(old_key_again.has_value());
  EXPECT_EQ(old_key_again.error(), pkg::errors::kKeyChangeWithoutRotation);
}

TEST_F(AppStoreTest, EveryTamperedByteIsRefused) {
  install_v7();
  Bytes good = make(8, "two");
  for (std::size_t i = 0; i < good.size(); ++i) {
    Bytes tampered = good;
    tampered[i] ^= 0x20;
    auto result = store_->install(tampered);
    ASSERT_FALSE(result.has_value()) << "byte " << i << " of " << good.size();
  }
  expect_v7_intact();
  EXPECT_TRUE(store_->install(good).has_value());
}

TEST_F(AppStoreTest, RefusalsAreAudited) {
  install_v7();
  (void)store_->install(make(6, "old"));
  auto entries = audit_entries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].body.event, AuditEvent::kDenial);
  EXPECT_EQ(entries[1].body.app_id, "org.agency.notes");
  EXPECT_NE(entries[1].body.detail.find("does not grow"), std::string::npos) << entries[1].body.detail;
}

TEST_F(AppStoreTest, LeftoversOfAnInterruptedInstallAreCleared) {
  install_v7();
  fs::create_directories(state_ + "/apps/.staging-0123/root");
  fs::create_directories(state_ + "/apps/.removing-4567");
  store_ = open_store(sample_standard());
  expect_v7_intact();
}

TEST_F(AppStoreTest, RejectsAppIdsThatAreNotAppIds) {
  EXPECT_EQ(store_->find("../../etc").error().category(), ErrorCategory::kInvalidArgument);
  EXPECT_EQ(store_->remove("org.agency/../x").error().category(), ErrorCategory::kInvalidArgument);
}

}  // namespace
}  // namespace pmos::device

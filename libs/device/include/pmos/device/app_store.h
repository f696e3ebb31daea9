#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/device/audit.h"
#include "pmos/pkg/package.h"
#include "pmos/pkg/standard.h"
#include "pmos/pkg/trust.h"

namespace pmos::device {

// What the device keeps about an installed app (STATE/apps/<id>/app, the
// codec encoding of this struct). The installed package's manifest, the
// developer key it is pinned to, and the host uid its sandbox maps to.
struct InstalledApp {
  pkg::Manifest manifest;
  pkg::SignerKey developer_key;
  pkg::Digest digest{};
  std::uint32_t host_uid = 0;
  static auto tls_fields(auto& self) {
    return std::tie(self.manifest, self.developer_key, self.digest, self.host_uid);
  }
  const std::string& app_id() const { return manifest.app_id; }
};

struct InstallResult {
  InstalledApp app;
  std::optional<std::uint64_t> previous_version;  // set for an update
};

// The apps installed on the device, on disk under a state directory:
//   STATE/apps/<app id>/package.pmospkg   the package as installed
//   STATE/apps/<app id>/root/             its payload, unpacked (the sandbox's /app)
//   STATE/apps/<app id>/app               InstalledApp
//   STATE/data/<app id>/                  the app's data (the sandbox's /data), kept across updates
// An install is staged beside the installed version and swapped in with one
// rename (RENAME_EXCHANGE), so a refused or failed install, or a crash, leaves
// the previous version exactly as it was. Every install, update, refusal and
// removal is written to the audit log.
//
// Not thread-safe: pmosd serializes calls.
class AppStore {
 public:
  struct Options {
    // Root launchers give each app its own host uid from first_app_uid up
    // (and chown its data directory to it); otherwise every app maps to the
    // launcher's own uid, which is all an unprivileged launcher can map.
    bool per_app_uids = false;
    std::uint32_t first_app_uid = 200000;
  };

  // Creates the directories if needed and clears what an interrupted install
  // or removal left behind. `audit` must outlive the store.
  static ErrorOr<std::unique_ptr<AppStore>> open(std::string state_dir, pkg::TrustAnchors anchors,
                                                 pkg::AppStandard standard, AuditLog& audit, Options options);

  // Refuses, each with its errors.h error and the installed version intact:
  // an undecodable package, a missing or bad developer signature or
  // rotation, a missing, unknown-authority or bad countersignature, a record
  // that does not match, a package that fails the current standard, a
  // downgrade or replay, a developer key change without rotation statement.
  ErrorOr<InstallResult> install(BytesView package_file);
  ErrorOr<void> remove(std::string_view app_id);
  ErrorOr<std::vector<InstalledApp>> list() const;
  // kNotFound if the app is not installed.
  ErrorOr<InstalledApp> find(std::string_view app_id) const;

  std::string package_dir(std::string_view app_id) const;
  std::string data_dir(std::string_view app_id) const;
  const pkg::AppStandard& standard() const { return standard_; }

 private:
  AppStore(std::string state_dir, pkg::TrustAnchors anchors, pkg::AppStandard standard, AuditLog& audit,
           Options options)
      : state_dir_(std::move(state_dir)),
        anchors_(std::move(anchors)),
        standard_(std::move(standard)),
        audit_(audit),
        options_(options) {}

  ErrorOr<InstallResult> install_verified(const pkg::Package& package, const pkg::VerifiedPackage& verified);
  ErrorOr<std::uint32_t> choose_uid(const std::optional<InstalledApp>& previous) const;
  std::string app_dir(std::string_view app_id) const;

  const std::string state_dir_;
  const pkg::TrustAnchors anchors_;
  const pkg::AppStandard standard_;
  AuditLog& audit_;
  const Options options_;
};

}  // namespace pmos::device

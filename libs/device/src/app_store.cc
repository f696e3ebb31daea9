#include "pmos/device/app_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <set>

#include "pmos/base/codec.h"
#include "pmos/base/file.h"
#include "pmos/crypto/random.h"
#include "pmos/pkg/errors.h"
#include "pmos/pkg/payload.h"

namespace pmos::device {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxRecordBytes = 1 << 20;
constexpr std::size_t kMaxPackageBytes = std::size_t{1} << 31;

ErrorOr<void> make_directory(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return Error::system("mkdir", errno);
  // mkdir applies the umask; the mode is part of the layout (the app's uid
  // must walk through the state directories to reach its own).
  if (::chmod(path.c_str(), mode) != 0) return Error::system("chmod", errno);
  return {};
}

ErrorOr<void> write_all(int fd, BytesView data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::system("write", errno);
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

ErrorOr<void> fsync_path(const std::string& path) {
  UniqueFd fd = TRY(open_file(path, O_RDONLY | O_DIRECTORY));
  if (::fsync(fd.get()) != 0) return Error::system("fsync", errno);
  return {};
}

// Unpacks a decoded, validated and vetted payload under `root`. The payload
// rules (relative paths without "..", every parent a directory entry, sorted
// so parents come first) mean no entry can land outside `root`; O_EXCL and
// O_NOFOLLOW make sure of it anyway. Modes are normalized: directories 0755,
// files 0755 if the package made them executable, else 0644. Special bits
// are dropped whatever the package says (an installed file never runs
// setuid), and a package cannot make its own files unreadable to the uid it
// runs as (root owns them; the sandbox mounts them read-only).
ErrorOr<void> unpack_payload(const std::string& root, const std::vector<pkg::Entry>& payload) {
  TRY(make_directory(root, 0700));
  std::vector<std::pair<std::string, mode_t>> directories;
  for (const pkg::Entry& entry : payload) {
    std::string path = root + "/" + entry.path;
    mode_t mode = entry.type == pkg::EntryType::kDirectory || (entry.mode & 0111) != 0 ? 0755 : 0644;
    switch (entry.type) {
      case pkg::EntryType::kDirectory:
        if (::mkdir(path.c_str(), 0700) != 0) return Error::system("mkdir", errno);
        directories.emplace_back(path, mode);
        break;
      case pkg::EntryType::kFile: {
        UniqueFd fd = TRY(open_file(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600));
        TRY(write_all(fd.get(), entry.content));
        if (::fchmod(fd.get(), mode) != 0) return Error::system("fchmod", errno);
        break;
      }
      case pkg::EntryType::kSymlink:
        if (::symlink(std::string(as_string(entry.content)).c_str(), path.c_str()) != 0)
          return Error::system("symlink", errno);
        break;
      default:
        return Error::invalid_argument("install: the payload holds a device node or FIFO");
    }
  }
  // Children first: a read-only directory would refuse its own children.
  for (auto it = directories.rbegin(); it != directories.rend(); ++it)
    if (::chmod(it->first.c_str(), it->second) != 0) return Error::system("chmod", errno);
  if (::chmod(root.c_str(), 0755) != 0) return Error::system("chmod", errno);
  return {};
}

std::string random_suffix() { return to_hex(crypto::random_bytes(8)); }

void remove_tree(const std::string& path) {
  std::error_code ignored;
  fs::remove_all(path, ignored);
}

}  // namespace

ErrorOr<std::unique_ptr<AppStore>> AppStore::open(std::string state_dir, pkg::TrustAnchors anchors,
                                                  pkg::AppStandard standard, AuditLog& audit, Options options) {
  TRY(make_directory(state_dir, 0711));
  TRY(make_directory(state_dir + "/apps", 0711));
  TRY(make_directory(state_dir + "/data", 0711));
  // Leftovers of an install or removal that was interrupted: never the
  // installed version (that is swapped in whole or not at all).
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(state_dir + "/apps", ec)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with(".staging-") || name.starts_with(".removing-")) remove_tree(entry.path().string());
  }
  if (ec) return Error::system("opendir", ec.value());
  return std::unique_ptr<AppStore>(
      new AppStore(std::move(state_dir), std::move(anchors), std::move(standard), audit, options));
}

std::string AppStore::app_dir(std::string_view app_id) const {
  return state_dir_ + "/apps/" + std::string(app_id);
}
std::string AppStore::package_dir(std::string_view app_id) const { return app_dir(app_id) + "/root"; }
std::string AppStore::data_dir(std::string_view app_id) const {
  return state_dir_ + "/data/" + std::string(app_id);
}

ErrorOr<InstalledApp> AppStore::find(std::string_view app_id) const {
  // The id names a directory: anything but a valid app id could walk the tree.
  if (!pkg::is_valid_app_id(app_id)) return Error::invalid_argument("not a valid app id");
  auto bytes = read_file(app_dir(app_id) + "/app", kMaxRecordBytes);
  if (!bytes) {
    if (bytes.error().errno_code() == ENOENT) return Error::not_found("app is not installed");
    return bytes.error();
  }
  InstalledApp app = TRY(tls::decode<InstalledApp>(*bytes));
  if (app.app_id() != app_id) return Error::decode("install record names another app");
  return app;
}

ErrorOr<std::vector<InstalledApp>> AppStore::list() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(state_dir_ + "/apps", ec)) {
    std::string name = entry.path().filename().string();
    if (!name.starts_with(".")) names.push_back(name);
  }
  if (ec) return Error::system("opendir", ec.value());
  std::sort(names.begin(), names.end());
  std::vector<InstalledApp> apps;
  for (const std::string& name : names) apps.push_back(TRY(find(name)));
  return apps;
}

ErrorOr<std::uint32_t> AppStore::choose_uid(const std::optional<InstalledApp>& previous) const {
  if (previous) return previous->host_uid;
  if (!options_.per_app_uids) return static_cast<std::uint32_t>(::geteuid());
  std::set<std::uint32_t> used;
  for (const InstalledApp& app : TRY(list())) used.insert(app.host_uid);
  for (std::uint32_t uid = options_.first_app_uid; uid < options_.first_app_uid + 65536; ++uid)
    if (!used.contains(uid)) return uid;
  return Error::invalid_argument("install: no free app uid");
}

ErrorOr<InstallResult> AppStore::install(BytesView package_file) {
  auto refuse = [this](std::string_view app_id, const Error& error) -> Error {
    // A refusal is itself a security event: someone tried to put this on the phone.
    (void)audit_.append(AuditEvent::kDenial, app_id, "install refused: " + error.to_string());
    return error;
  };
  if (package_file.size() > kMaxPackageBytes) return refuse("", pkg::errors::kPackageTooLarge);
  auto package = pkg::decode_package(package_file);
  if (!package) return refuse("", package.error());
  const std::string& app_id = package->manifest().app_id;
  auto verified = pkg::verify_package(*package, anchors_, standard_);
  if (!verified) return refuse(app_id, verified.error());
  auto result = install_verified(*package, *verified);
  if (!result) return refuse(app_id, result.error());
  return result;
}

ErrorOr<InstallResult> AppStore::install_verified(const pkg::Package& package,
                                                  const pkg::VerifiedPackage& verified) {
  const std::string& app_id = verified.app_id();
  std::optional<InstalledApp> previous;
  if (auto found = find(app_id)) {
    previous = std::move(*found);
  } else if (found.error().category() != ErrorCategory::kNotFound) {
    return found.error();
  }

  // Signer continuity and no downgrade, from the installed version's pin.
  pkg::PinStore pins;
  if (previous) {
    std::vector<pkg::PinStore::Pin> one = {{app_id, previous->developer_key, previous->manifest.version_code}};
    pins = TRY(pkg::PinStore::decode(tls::encode(one)));
  }
  TRY(pins.admit(verified));

  InstalledApp record;
  record.manifest = package.manifest();
  record.developer_key = verified.developer_key();
  record.digest = verified.digest();
  record.host_uid = TRY(choose_uid(previous));

  // Stage the new version beside the installed one.
  std::string staging = state_dir_ + "/apps/.staging-" + random_suffix();
  TRY(make_directory(staging, 0711));
  auto staged = [&]() -> ErrorOr<void> {
    TRY(unpack_payload(staging + "/root", package.payload()));
    TRY(write_file_atomic(staging + "/package.pmospkg", pkg::encode_package(package), 0644));
    TRY(write_file_atomic(staging + "/app", tls::encode(record), 0644));
    UniqueFd dir = TRY(open_file(staging, O_RDONLY | O_DIRECTORY));
    if (::syncfs(dir.get()) != 0) return Error::system("syncfs", errno);
    // The data directory survives updates; a first install makes it.
    std::string data = data_dir(app_id);
    if (::mkdir(data.c_str(), 0700) != 0 && errno != EEXIST) return Error::system("mkdir", errno);
    if (options_.per_app_uids && ::chown(data.c_str(), record.host_uid, record.host_uid) != 0)
      return Error::system("chown", errno);
    return {};
  }();
  if (!staged) {
    remove_tree(staging);
    return staged.error();
  }

  // The switch: one rename. RENAME_EXCHANGE swaps the two directories
  // atomically, so at every instant apps/<id> is one whole version.
  std::string target = app_dir(app_id);
  if (previous) {
    if (::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) != 0) {
      int saved = errno;
      remove_tree(staging);
      return Error::system("renameat2", saved);
    }
    remove_tree(staging);  // now the previous version
  } else if (::rename(staging.c_str(), target.c_str()) != 0) {
    int saved = errno;
    remove_tree(staging);
    return Error::system("rename", saved);
  }
  TRY(fsync_path(state_dir_ + "/apps"));

  std::string detail = "version " + std::to_string(record.manifest.version_code) + " (" +
                       record.manifest.version_name + "), digest " + to_hex(record.digest) + ", developer key " +
                       to_hex(record.developer_key.id());
  if (previous) detail += ", replaces version " + std::to_string(previous->manifest.version_code);
  if (!verified.rotations().empty()) detail += ", developer key rotated";
  TRY(audit_.append(previous ? AuditEvent::kUpdate : AuditEvent::kInstall, app_id, detail));
  InstallResult result{std::move(record), std::nullopt};
  if (previous) result.previous_version = previous->manifest.version_code;
  return result;
}

ErrorOr<void> AppStore::remove(std::string_view app_id) {
  InstalledApp app = TRY(find(app_id));
  // Out of the way in one rename first, so a crash mid-delete never leaves
  // half an app that looks installed.
  std::string doomed = state_dir_ + "/apps/.removing-" + random_suffix();
  if (::rename(app_dir(app_id).c_str(), doomed.c_str()) != 0) return Error::system("rename", errno);
  TRY(fsync_path(state_dir_ + "/apps"));
  remove_tree(doomed);
  remove_tree(data_dir(app_id));
  return audit_.append(AuditEvent::kRemove, app_id,
                       "version " + std::to_string(app.manifest.version_code) + " and its data removed");
}

}  // namespace pmos::device

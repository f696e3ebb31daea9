// `pmos sandbox run`: for developers and tests, any command in the sandbox an
// app with this manifest would get, with a broker granting what it would be
// granted. Not how apps run on a device (that is pmosd), so nothing is
// installed and the audit log is a throwaway unless --audit-dir keeps it.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "device_command.h"
#include "pmos/base/file.h"
#include "pmos/device/audit.h"
#include "pmos/device/broker.h"
#include "pmos/device/grants.h"
#include "pmos/pkg/manifest.h"
#include "pmos/pkg/standard.h"
#include "pmos/sandbox/sandbox.h"

namespace pmos::cli {
namespace {

constexpr int kSetupFailed = 125;

constexpr const char* kUsageText =
    "usage: pmos sandbox run --manifest M.json [options] -- COMMAND [ARGS...]\n"
    "  --manifest FILE    the app's manifest JSON: its app id, endpoints and capabilities\n"
    "  --standard FILE    grant only what this app standard allows too (as pmosd does)\n"
    "  --package DIR      mounted read-only at /app\n"
    "  --data DIR         mounted read-write at /data\n"
    "  --audit-dir DIR    keep the broker's audit log (audit.log, audit.head, device.key) here\n"
    "  --best-effort      Landlock, seccomp and cgroup limits only where available\n"
    "The broker socket is fd 3 ($PMOS_BROKER_FD). Exit status: the command's, 128 + signal,\n"
    "or 125 if the sandbox could not be set up.\n";

int usage(const char* message) {
  std::fprintf(stderr, "pmos sandbox: %s\n%s", message, kUsageText);
  return 2;
}

int fail(const std::string& what, const Error& error) {
  std::fprintf(stderr, "pmos sandbox: %s: %s\n", what.c_str(), error.to_string().c_str());
  return kSetupFailed;
}

}  // namespace

int run_sandbox_command(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "run") return usage("the only command is run");
  std::string manifest_path, standard_path, audit_dir;
  sandbox::SandboxSpec spec;
  std::size_t i = 1;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "--best-effort") {
      spec.policy.landlock = sandbox::Requirement::kIfAvailable;
      spec.policy.seccomp = sandbox::Requirement::kIfAvailable;
      spec.policy.cgroup_limits = sandbox::Requirement::kIfAvailable;
      continue;
    }
    if (i + 1 >= args.size()) return usage("an option needs a value");
    const std::string& value = args[++i];
    if (arg == "--manifest") {
      manifest_path = value;
    } else if (arg == "--standard") {
      standard_path = value;
    } else if (arg == "--package") {
      spec.package_dir = std::filesystem::absolute(value).string();
    } else if (arg == "--data") {
      spec.data_dir = std::filesystem::absolute(value).string();
    } else if (arg == "--audit-dir") {
      audit_dir = value;
    } else {
      return usage("unknown option");
    }
  }
  if (manifest_path.empty()) return usage("--manifest is required");
  if (i >= args.size()) return usage("no command given (after --)");
  spec.argv.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());

  auto manifest_text = read_file(manifest_path, 1 << 20);
  if (!manifest_text) return fail(manifest_path, manifest_text.error());
  auto manifest = pkg::manifest_from_json(as_string(*manifest_text));
  if (!manifest) return fail(manifest_path, manifest.error());
  device::Grants grants;
  if (!standard_path.empty()) {
    auto standard_text = read_file(standard_path, 1 << 20);
    if (!standard_text) return fail(standard_path, standard_text.error());
    auto standard = pkg::AppStandard::from_json(as_string(*standard_text));
    if (!standard) return fail(standard_path, standard.error());
    grants = device::compute_grants(*manifest, *standard);
  } else {
    // No standard: what the manifest asks for, as a developer tests it.
    for (const std::string& text : manifest->permissions.network)
      if (auto pattern = pkg::EndpointPattern::parse(text)) grants.endpoints.push_back(*pattern);
    grants.capabilities = manifest->permissions.capabilities;
  }

  bool keep_audit = !audit_dir.empty();
  if (!keep_audit) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp ? tmp : "/tmp") + "/pmos-sandbox-audit-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) return fail("mkdtemp", Error::system("mkdtemp", errno));
    audit_dir = pattern;
  } else {
    std::error_code ignored;
    std::filesystem::create_directories(audit_dir, ignored);
  }
  auto cleanup = [&] {
    if (!keep_audit) {
      std::error_code ignored;
      std::filesystem::remove_all(audit_dir, ignored);
    }
  };
  auto key = device::load_or_create_device_key(audit_dir);
  if (!key) return cleanup(), fail("device key", key.error());
  auto audit = device::AuditLog::open(audit_dir + "/audit.log", audit_dir + "/audit.head", std::move(*key));
  if (!audit) return cleanup(), fail("audit log", audit.error());

  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return cleanup(), fail("socketpair", Error::system("socketpair", errno));
  UniqueFd broker_end(pair[0]);
  spec.app_id = manifest->app_id;
  spec.fds.emplace_back(pair[1]);
  spec.env = {"PATH=/usr/local/bin:/usr/bin:/bin", spec.data_dir.empty() ? "HOME=/tmp" : "HOME=/data",
              "PMOS_APP_ID=" + manifest->app_id, "PMOS_BROKER_FD=3"};
  if (::geteuid() == 0) spec.host_uid = 65534;  // never host root; nobody is the development default
  for (int fd = 0; fd < 3; ++fd) spec.stdio[fd] = UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3));

  auto launched = sandbox::Sandbox::launch(spec);
  spec.stdio = {};
  spec.fds.clear();
  if (!launched) return cleanup(), fail("sandbox", launched.error());
  (void)(*audit)->append(device::AuditEvent::kLaunch, manifest->app_id, "pmos sandbox run " + spec.argv[0]);
  device::Broker broker(manifest->app_id, std::move(grants), **audit, {});
  std::thread broker_thread([&] { (void)broker.serve(broker_end.get()); });
  auto status = (*launched)->wait();
  ::shutdown(broker_end.get(), SHUT_RDWR);
  broker_thread.join();
  launched->reset();
  if (!status) return cleanup(), fail("wait", status.error());
  (void)(*audit)->append(device::AuditEvent::kExit, manifest->app_id,
                         "exit status " + std::to_string(status->shell_code()));
  cleanup();
  return status->shell_code();
}

}  // namespace pmos::cli

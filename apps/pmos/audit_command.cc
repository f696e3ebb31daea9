// `pmos audit show|verify`: reads a device's audit log from its state
// directory and checks it offline; it does not ask pmosd, whose log it judges.
#include <ctime>
#include <cstdio>

#include "device_command.h"
#include "pmos/base/file.h"
#include "pmos/device/audit.h"

namespace pmos::cli {
namespace {

constexpr const char* kUsageText =
    "usage: pmos audit <show|verify> --state DIR [--key DEVICE.pub]\n"
    "  show     every entry: sequence, time (UTC), event, app, detail; then the verdict\n"
    "  verify   check signatures, the hash chain and the signed head; exit 1 if anything fails\n"
    "  --key    the device public key to check against (default STATE/device.pub; give a copy\n"
    "           kept off the device to rule out a replaced key)\n";

int usage(const char* message) {
  std::fprintf(stderr, "pmos audit: %s\n%s", message, kUsageText);
  return 2;
}

std::string format_time(std::uint64_t time_ms) {
  std::time_t seconds = static_cast<std::time_t>(time_ms / 1000);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03uZ", static_cast<unsigned>(time_ms % 1000));
  return std::string(text) + millis;
}

}  // namespace

int run_audit_command(const std::vector<std::string>& args) {
  if (args.empty() || (args[0] != "show" && args[0] != "verify")) return usage("show or verify?");
  std::string state, key_path;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (i + 1 >= args.size()) return usage("an option needs a value");
    if (args[i] == "--state") {
      state = args[++i];
    } else if (args[i] == "--key") {
      key_path = args[++i];
    } else {
      return usage("unknown option");
    }
  }
  if (state.empty()) return usage("--state is required");
  if (key_path.empty()) key_path = state + "/device.pub";

  auto key = device::load_device_public_key(key_path);
  if (!key) {
    std::fprintf(stderr, "pmos audit: %s: %s\n", key_path.c_str(), key.error().to_string().c_str());
    return 1;
  }
  auto log = read_file(state + "/audit.log", std::size_t{1} << 30);
  auto head = read_file(state + "/audit.head", 4096);
  if (!log || !head) {
    std::fprintf(stderr, "pmos audit: cannot read %s/audit.log and audit.head: %s\n", state.c_str(),
                 (!log ? log.error() : head.error()).to_string().c_str());
    return 1;
  }
  if (args[0] == "show") {
    // Show what decodes even when verification will fail: the reader
    // needs to see what the log claims next to the verdict.
    auto entries = device::decode_audit_log(*log);
    if (entries) {
      for (const device::AuditEntry& e : *entries) {
        std::printf("%6llu  %s  %-12s %-24s %s\n", static_cast<unsigned long long>(e.body.sequence),
                    format_time(e.body.time_ms).c_str(), std::string(device::to_string(e.body.event)).c_str(),
                    e.body.app_id.empty() ? "-" : e.body.app_id.c_str(), e.body.detail.c_str());
      }
    }
  }
  device::AuditProblem problem{Error::internal(""), std::nullopt};
  auto summary = device::verify_audit(*log, *head, *key, &problem);
  if (!summary) {
    if (problem.entry)
      std::printf("FAILED at entry %zu: %s\n", *problem.entry, problem.error.to_string().c_str());
    else
      std::printf("FAILED: %s\n", problem.error.to_string().c_str());
    return 1;
  }
  std::printf("OK: %zu entries; signatures, hash chain and signed head verify", summary->entries);
  if (summary->unsigned_by_head) std::printf(" (%zu after the head)", summary->unsigned_by_head);
  std::printf("\n");
  return 0;
}

}  // namespace pmos::cli

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "pmos/base/error_or.h"

namespace pmos::pkg {

// What kind of app this is. The app standard grants capabilities per
// category, so the category is a claim the vetting team checks against what
// the app does. Wire values are fixed; append new ones.
enum class AppCategory : std::uint8_t {
  kCommunication = 1,
  kProductivity = 2,
  kNavigation = 3,
  kMedia = 4,
  kUtility = 5,
  kField = 6,  // field work: forms, checklists, evidence capture
};
bool tls_enum_valid(AppCategory category);
std::string_view to_string(AppCategory category);
std::optional<AppCategory> category_from_string(std::string_view name);

// A named capability an app asks the broker for. Network access is not one of
// these: it is granted per endpoint (Permissions::network).
enum class Capability : std::uint8_t {
  kNotifications = 1,
  kFiles = 2,  // files the user picks in the system file chooser
  kCamera = 3,
  kLocation = 4,
  kMicrophone = 5,
};
bool tls_enum_valid(Capability capability);
std::string_view to_string(Capability capability);
std::optional<Capability> capability_from_string(std::string_view name);

// What the app asks for. Both lists are sorted ascending without duplicates
// (network by bytes, capabilities by wire value), so a manifest has one
// encoding.
struct Permissions {
  std::vector<std::string> network;  // EndpointPattern texts
  std::vector<Capability> capabilities;
  static auto tls_fields(auto& self) { return std::tie(self.network, self.capabilities); }
};

// The app's identity and requests, as signed inside the package. Plain data;
// validate() states the rules decode_package() enforces.
struct Manifest {
  std::string app_id;        // reverse-DNS, e.g. "org.agency.notes"
  std::uint64_t version_code = 0;  // only grows from one release to the next
  std::string version_name;  // for people, e.g. "1.4.2"
  std::string developer;     // the developer's name, for people
  std::string entry_point;   // payload path of the program to run
  AppCategory category = AppCategory::kUtility;
  Permissions permissions;

  static auto tls_fields(auto& self) {
    return std::tie(self.app_id, self.version_code, self.version_name, self.developer,
                    self.entry_point, self.category, self.permissions);
  }

  ErrorOr<void> validate() const;
};

// The manifest JSON a developer writes (docs/formats/package.md, "Manifest
// JSON"): strict, unknown keys refused. The lists may come in any order and
// are sorted here; duplicates are refused.
ErrorOr<Manifest> manifest_from_json(std::string_view json);
// The same JSON, pretty-printed, for `pmos app inspect`.
std::string manifest_to_json(const Manifest& manifest);

bool is_valid_app_id(std::string_view app_id);

}  // namespace pmos::pkg

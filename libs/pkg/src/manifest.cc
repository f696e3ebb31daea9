#include "pmos/pkg/manifest.h"

#include <algorithm>
#include <array>
#include <utility>

#include <nlohmann/json.hpp>

#include "pmos/pkg/endpoint.h"
#include "pmos/pkg/payload.h"

namespace pmos::pkg {
namespace {

constexpr std::array<std::pair<AppCategory, std::string_view>, 6> kCategoryNames = {{
    {AppCategory::kCommunication, "communication"},
    {AppCategory::kProductivity, "productivity"},
    {AppCategory::kNavigation, "navigation"},
    {AppCategory::kMedia, "media"},
    {AppCategory::kUtility, "utility"},
    {AppCategory::kField, "field"},
}};

constexpr std::array<std::pair<Capability, std::string_view>, 5> kCapabilityNames = {{
    {Capability::kNotifications, "notifications"},
    {Capability::kFiles, "files"},
    {Capability::kCamera, "camera"},
    {Capability::kLocation, "location"},
    {Capability::kMicrophone, "microphone"},
}};

constexpr std::size_t kMaxAppIdBytes = 128;
constexpr std::size_t kMaxVersionNameBytes = 64;
constexpr std::size_t kMaxDeveloperBytes = 128;
constexpr std::size_t kMaxEndpoints = 256;

bool is_printable_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

}  // namespace

bool tls_enum_valid(AppCategory category) {
  return std::any_of(kCategoryNames.begin(), kCategoryNames.end(),
                     [&](const auto& entry) { return entry.first == category; });
}
std::string_view to_string(AppCategory category) {
  for (const auto& [value, name] : kCategoryNames)
    if (value == category) return name;
  return "unknown";
}
std::optional<AppCategory> category_from_string(std::string_view name) {
  for (const auto& [value, text] : kCategoryNames)
    if (text == name) return value;
  return std::nullopt;
}

bool tls_enum_valid(Capability capability) {
  return std::any_of(kCapabilityNames.begin(), kCapabilityNames.end(),
                     [&](const auto& entry) { return entry.first == capability; });
}
std::string_view to_string(Capability capability) {
  for (const auto& [value, name] : kCapabilityNames)
    if (value == capability) return name;
  return "unknown";
}
std::optional<Capability> capability_from_string(std::string_view name) {
  for (const auto& [value, text] : kCapabilityNames)
    if (text == name) return value;
  return std::nullopt;
}

bool is_valid_app_id(std::string_view app_id) {
  // Reverse-DNS with at least two labels, each [a-z][a-z0-9_]*: the id names
  // directories and sandbox users on the device, so it must be plain.
  if (app_id.empty() || app_id.size() > kMaxAppIdBytes) return false;
  int labels = 0;
  while (true) {
    auto dot = app_id.find('.');
    std::string_view label = app_id.substr(0, dot);
    if (label.empty() || label.front() < 'a' || label.front() > 'z') return false;
    for (char c : label)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    ++labels;
    if (dot == std::string_view::npos) break;
    app_id.remove_prefix(dot + 1);
  }
  return labels >= 2;
}

ErrorOr<void> Manifest::validate() const {
  if (!is_valid_app_id(app_id))
    return Error::decode("manifest: app id is not a reverse-DNS name of [a-z][a-z0-9_]* labels");
  if (version_code == 0) return Error::decode("manifest: version code must be at least 1");
  if (version_name.empty() || version_name.size() > kMaxVersionNameBytes ||
      !is_printable_ascii(version_name))
    return Error::decode("manifest: version name must be 1..64 printable ASCII characters");
  if (developer.empty() || developer.size() > kMaxDeveloperBytes || !is_printable_ascii(developer))
    return Error::decode("manifest: developer must be 1..128 printable ASCII characters");
  if (!validate_path(entry_point).has_value())
    return Error::decode("manifest: entry point is not a valid payload path");
  if (permissions.network.size() > kMaxEndpoints)
    return Error::decode("manifest: more than 256 network endpoints");
  for (std::size_t i = 0; i < permissions.network.size(); ++i) {
    if (!EndpointPattern::parse(permissions.network[i]).has_value())
      return Error::decode("manifest: network endpoint is not a valid host:port pattern");
    if (i > 0 && !(permissions.network[i - 1] < permissions.network[i]))
      return Error::decode("manifest: network endpoints are not sorted and unique");
  }
  for (std::size_t i = 1; i < permissions.capabilities.size(); ++i) {
    if (!(permissions.capabilities[i - 1] < permissions.capabilities[i]))
      return Error::decode("manifest: capabilities are not sorted and unique");
  }
  return {};
}

namespace {

using Json = nlohmann::json;

ErrorOr<const Json*> member(const Json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end()) return Error::invalid_argument("manifest JSON: a required key is missing");
  return &*it;
}

ErrorOr<std::string> string_member(const Json& object, const char* key) {
  const Json* value = TRY(member(object, key));
  if (!value->is_string()) return Error::invalid_argument("manifest JSON: a text field is not a string");
  return value->get<std::string>();
}

}  // namespace

ErrorOr<Manifest> manifest_from_json(std::string_view text) {
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object())
    return Error::invalid_argument("manifest JSON: not a JSON object");
  static constexpr std::array<std::string_view, 7> kKeys = {
      "app_id", "version_code", "version_name", "developer", "entry_point", "category", "permissions"};
  for (const auto& [key, value] : json.items()) {
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end())
      return Error::invalid_argument("manifest JSON: unknown key");
  }

  Manifest manifest;
  manifest.app_id = TRY(string_member(json, "app_id"));
  const Json* version_code = TRY(member(json, "version_code"));
  if (!version_code->is_number_unsigned())
    return Error::invalid_argument("manifest JSON: version_code is not a non-negative integer");
  manifest.version_code = version_code->get<std::uint64_t>();
  manifest.version_name = TRY(string_member(json, "version_name"));
  manifest.developer = TRY(string_member(json, "developer"));
  manifest.entry_point = TRY(string_member(json, "entry_point"));
  auto category = category_from_string(TRY(string_member(json, "category")));
  if (!category) return Error::invalid_argument("manifest JSON: unknown category");
  manifest.category = *category;

  const Json* permissions = TRY(member(json, "permissions"));
  if (!permissions->is_object()) return Error::invalid_argument("manifest JSON: permissions is not an object");
  for (const auto& [key, value] : permissions->items()) {
    if (key != "network" && key != "capabilities")
      return Error::invalid_argument("manifest JSON: unknown key in permissions");
    if (!value.is_array()) return Error::invalid_argument("manifest JSON: a permission list is not an array");
    for (const Json& item : value) {
      if (!item.is_string()) return Error::invalid_argument("manifest JSON: a permission is not a string");
      std::string name = item.get<std::string>();
      if (key == "network") {
        manifest.permissions.network.push_back(std::move(name));
      } else {
        auto capability = capability_from_string(name);
        if (!capability) return Error::invalid_argument("manifest JSON: unknown capability");
        manifest.permissions.capabilities.push_back(*capability);
      }
    }
  }
  auto& network = manifest.permissions.network;
  auto& capabilities = manifest.permissions.capabilities;
  std::sort(network.begin(), network.end());
  std::sort(capabilities.begin(), capabilities.end());
  // A duplicate is most likely a typo elsewhere in the list; say so rather
  // than silently merge.
  if (std::adjacent_find(network.begin(), network.end()) != network.end() ||
      std::adjacent_find(capabilities.begin(), capabilities.end()) != capabilities.end())
    return Error::invalid_argument("manifest JSON: a permission is listed twice");
  TRY(manifest.validate());
  return manifest;
}

std::string manifest_to_json(const Manifest& manifest) {
  Json capabilities = Json::array();
  for (Capability capability : manifest.permissions.capabilities)
    capabilities.push_back(std::string(to_string(capability)));
  Json json = {
      {"app_id", manifest.app_id},
      {"version_code", manifest.version_code},
      {"version_name", manifest.version_name},
      {"developer", manifest.developer},
      {"entry_point", manifest.entry_point},
      {"category", std::string(to_string(manifest.category))},
      {"permissions", {{"network", manifest.permissions.network}, {"capabilities", capabilities}}},
  };
  // Replace, never throw, should a caller pass an unvalidated manifest.
  return json.dump(2, ' ', false, Json::error_handler_t::replace);
}

}  // namespace pmos::pkg

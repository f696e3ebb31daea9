#include "pmos/pkg/standard.h"

#include <algorithm>
#include <array>

#include <nlohmann/json.hpp>

namespace pmos::pkg {
namespace {

using Json = nlohmann::json;

// The schema of the standard document itself; "version" is the policy's.
constexpr std::uint64_t kSchema = 1;

ErrorOr<void> only_keys(const Json& object, std::initializer_list<std::string_view> keys) {
  if (!object.is_object()) return Error::invalid_argument("app standard: expected a JSON object");
  for (const auto& [key, value] : object.items()) {
    if (std::find(keys.begin(), keys.end(), key) == keys.end())
      return Error::invalid_argument("app standard: unknown key (typos must not silently loosen policy)");
  }
  for (std::string_view key : keys) {
    if (!object.contains(key)) return Error::invalid_argument("app standard: a required key is missing");
  }
  return {};
}

ErrorOr<bool> boolean(const Json& object, const char* key) {
  const Json& value = object[key];
  if (!value.is_boolean()) return Error::invalid_argument("app standard: a switch is not true/false");
  return value.get<bool>();
}

ErrorOr<std::uint64_t> count(const Json& object, const char* key) {
  const Json& value = object[key];
  if (!value.is_number_unsigned()) return Error::invalid_argument("app standard: a limit is not a non-negative integer");
  return value.get<std::uint64_t>();
}

}  // namespace

const AppStandard::CategoryGrant* AppStandard::grant_for(AppCategory category) const {
  for (const CategoryGrant& grant : categories)
    if (grant.category == category) return &grant;
  return nullptr;
}

ErrorOr<AppStandard> AppStandard::from_json(std::string_view text) {
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return Error::invalid_argument("app standard: not valid JSON");
  TRY(only_keys(json, {"pmos_app_standard", "version", "categories", "allowed_endpoints", "hardening", "limits"}));
  if (!json["pmos_app_standard"].is_number_unsigned() || json["pmos_app_standard"].get<std::uint64_t>() != kSchema)
    return Error::unsupported("app standard: pmos_app_standard is not 1");
  AppStandard standard;
  const Json& version = json["version"];
  if (!version.is_number_unsigned() || version.get<std::uint64_t>() == 0 ||
      version.get<std::uint64_t>() > UINT32_MAX)
    return Error::invalid_argument("app standard: version is not an integer in 1..2^32-1");
  standard.version = static_cast<std::uint32_t>(version.get<std::uint64_t>());

  const Json& categories = json["categories"];
  if (!categories.is_object()) return Error::invalid_argument("app standard: categories is not an object");
  for (const auto& [name, rule] : categories.items()) {
    auto category = category_from_string(name);
    if (!category) return Error::invalid_argument("app standard: unknown category");
    TRY(only_keys(rule, {"capabilities", "network"}));
    CategoryGrant grant;
    grant.category = *category;
    grant.network = TRY(boolean(rule, "network"));
    if (!rule["capabilities"].is_array()) return Error::invalid_argument("app standard: capabilities is not an array");
    for (const Json& item : rule["capabilities"]) {
      if (!item.is_string()) return Error::invalid_argument("app standard: a capability is not a string");
      auto capability = capability_from_string(item.get<std::string>());
      if (!capability) return Error::invalid_argument("app standard: unknown capability");
      grant.capabilities.push_back(*capability);
    }
    std::sort(grant.capabilities.begin(), grant.capabilities.end());
    if (std::adjacent_find(grant.capabilities.begin(), grant.capabilities.end()) != grant.capabilities.end())
      return Error::invalid_argument("app standard: a capability is listed twice");
    standard.categories.push_back(std::move(grant));
  }

  const Json& endpoints = json["allowed_endpoints"];
  if (!endpoints.is_array()) return Error::invalid_argument("app standard: allowed_endpoints is not an array");
  for (const Json& item : endpoints) {
    if (!item.is_string()) return Error::invalid_argument("app standard: an endpoint is not a string");
    standard.allowed_endpoints.push_back(TRY(EndpointPattern::parse(item.get<std::string>())));
  }

  const Json& hardening = json["hardening"];
  TRY(only_keys(hardening, {"pie", "full_relro", "nx_stack", "stack_protector", "fortify"}));
  standard.hardening.pie = TRY(boolean(hardening, "pie"));
  standard.hardening.full_relro = TRY(boolean(hardening, "full_relro"));
  standard.hardening.nx_stack = TRY(boolean(hardening, "nx_stack"));
  standard.hardening.stack_protector = TRY(boolean(hardening, "stack_protector"));
  standard.hardening.fortify = TRY(boolean(hardening, "fortify"));

  const Json& limits = json["limits"];
  TRY(only_keys(limits, {"max_total_bytes", "max_file_bytes", "max_files"}));
  standard.limits.max_total_bytes = TRY(count(limits, "max_total_bytes"));
  standard.limits.max_file_bytes = TRY(count(limits, "max_file_bytes"));
  standard.limits.max_files = TRY(count(limits, "max_files"));
  return standard;
}

}  // namespace pmos::pkg

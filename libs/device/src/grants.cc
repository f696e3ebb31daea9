#include "pmos/device/grants.h"

#include <algorithm>

namespace pmos::device {

const pkg::EndpointPattern* Grants::endpoint_for(std::string_view host, std::uint16_t port) const {
  for (const pkg::EndpointPattern& pattern : endpoints)
    if (pattern.matches(host, port)) return &pattern;
  return nullptr;
}

bool Grants::has(pkg::Capability capability) const {
  return std::find(capabilities.begin(), capabilities.end(), capability) != capabilities.end();
}

Grants compute_grants(const pkg::Manifest& manifest, const pkg::AppStandard& standard) {
  Grants grants;
  const pkg::AppStandard::CategoryGrant* category = standard.grant_for(manifest.category);
  if (category == nullptr) return grants;  // a category the standard no longer publishes gets nothing
  if (category->network) {
    for (const std::string& text : manifest.permissions.network) {
      auto requested = pkg::EndpointPattern::parse(text);
      if (!requested) continue;  // validated at install; a bad one grants nothing
      for (const pkg::EndpointPattern& allowed : standard.allowed_endpoints) {
        if (allowed.covers(*requested)) {
          grants.endpoints.push_back(*requested);
          break;
        }
      }
    }
  }
  for (pkg::Capability capability : manifest.permissions.capabilities) {
    if (std::find(category->capabilities.begin(), category->capabilities.end(), capability) !=
        category->capabilities.end())
      grants.capabilities.push_back(capability);
  }
  return grants;
}

}  // namespace pmos::device

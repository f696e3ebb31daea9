#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "pmos/pkg/endpoint.h"
#include "pmos/pkg/manifest.h"
#include "pmos/pkg/standard.h"

namespace pmos::device {

// What an installed app may ask the broker for: what its manifest requested
// AND what the device's current app standard allows. Computed at every
// launch from the standard in force then, so tightening the standard takes
// effect without reinstalling. Immutable value.
struct Grants {
  std::vector<pkg::EndpointPattern> endpoints;
  std::vector<pkg::Capability> capabilities;

  // The granted pattern matching host:port, or null: not granted.
  const pkg::EndpointPattern* endpoint_for(std::string_view host, std::uint16_t port) const;
  bool has(pkg::Capability capability) const;
};

// Endpoints: a requested pattern is granted if the app's category may use
// the network and an allowed pattern of the standard covers it. Capabilities:
// requested and granted to the category.
Grants compute_grants(const pkg::Manifest& manifest, const pkg::AppStandard& standard);

}  // namespace pmos::device

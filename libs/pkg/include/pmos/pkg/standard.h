#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "pmos/base/error_or.h"
#include "pmos/pkg/endpoint.h"
#include "pmos/pkg/manifest.h"

namespace pmos::pkg {

// The app standard: the authority's policy of what an app may be. Set as a
// JSON document (docs/vetting.md, "The app standard"), versioned so that a
// vetting record says which version a package passed. Immutable value.
struct AppStandard {
  struct CategoryGrant {
    AppCategory category = AppCategory::kUtility;
    std::vector<Capability> capabilities;  // sorted, unique
    bool network = false;  // whether apps of this category may ask for endpoints at all
  };
  struct Hardening {
    bool pie = true;
    bool full_relro = true;
    bool nx_stack = true;
    bool stack_protector = true;
    bool fortify = true;
  };
  struct Limits {
    std::uint64_t max_total_bytes = 0;  // sum of regular file sizes
    std::uint64_t max_file_bytes = 0;   // one regular file
    std::uint64_t max_files = 0;        // entries of any type
  };

  std::uint32_t version = 0;
  // Categories not listed here may not be published at all.
  std::vector<CategoryGrant> categories;
  std::vector<EndpointPattern> allowed_endpoints;
  Hardening hardening;
  Limits limits;

  const CategoryGrant* grant_for(AppCategory category) const;

  // Strict: "pmos_app_standard" must be 1, every key is required, unknown
  // keys, wrong types, duplicate or unknown categories/capabilities and bad
  // endpoint patterns are errors.
  static ErrorOr<AppStandard> from_json(std::string_view json);
};

}  // namespace pmos::pkg

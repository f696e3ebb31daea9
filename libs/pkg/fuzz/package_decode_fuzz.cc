// Fuzzes the package decoder (and, for what decodes, the developer-signature
// check and vetting, which walk the payload). Property: nothing crashes or
// reads out of bounds, and whatever decodes re-encodes to exactly the input.
#include <cstdlib>

#include "pmos/pkg/package.h"
#include "pmos/pkg/standard.h"
#include "pmos/pkg/vet.h"

namespace {

const pmos::pkg::AppStandard& standard() {
  static const pmos::pkg::AppStandard value = [] {
    auto parsed = pmos::pkg::AppStandard::from_json(R"({
      "pmos_app_standard": 1, "version": 1,
      "categories": {"utility": {"capabilities": ["notifications"], "network": true}},
      "allowed_endpoints": ["*.agency.example:443"],
      "hardening": {"pie": true, "full_relro": true, "nx_stack": true, "stack_protector": true, "fortify": true},
      "limits": {"max_total_bytes": 1000000, "max_file_bytes": 100000, "max_files": 100}})");
    if (!parsed) std::abort();
    return std::move(parsed).value();
  }();
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pmos::BytesView input(data, size);
  auto package = pmos::pkg::decode_package(input);
  if (!package) return 0;
  pmos::Bytes again = pmos::pkg::encode_package(*package);
  if (again.size() != size || !std::equal(again.begin(), again.end(), input.begin())) std::abort();
  (void)pmos::pkg::verify_developer_signature(*package);
  (void)pmos::pkg::vet(*package, standard());
  return 0;
}

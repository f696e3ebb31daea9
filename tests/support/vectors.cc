#include "pmos/testing/vectors.h"

#include <cstdlib>
#include <fstream>

namespace pmos::testing {

std::optional<std::filesystem::path> vector_path(std::string_view relative) {
  for (const char* variable : {"PMOS_TESTVECTORS", "PMOS_TESTVECTORS_DEFAULT"}) {
    const char* dir = std::getenv(variable);
    if (dir == nullptr || *dir == '\0') continue;
    std::filesystem::path path = std::filesystem::path(dir) / relative;
    if (std::filesystem::is_regular_file(path)) return path;
  }
  // Running a test binary by hand: the checkout's ../shared/testvectors.
  std::filesystem::path path = std::filesystem::path(PMOS_TESTVECTORS_BUILD_DEFAULT) / relative;
  if (std::filesystem::is_regular_file(path)) return path;
  return std::nullopt;
}

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

std::string missing_vectors_message(std::string_view relative) {
  return "test vectors '" + std::string(relative) +
         "' not found in $PMOS_TESTVECTORS or ../shared/testvectors; get them from the upstream "
         "repositories named in shared/testvectors/SOURCES.txt (MLS: mlswg/mls-implementations "
         "test-vectors/, HPKE: the RFC 9180 test-vectors.json) and point PMOS_TESTVECTORS at them";
}

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

Bytes hex_field(const nlohmann::json& object, const char* key) {
  auto bytes = from_hex(object.at(key).get<std::string>());
  EXPECT_TRUE(bytes.has_value()) << key << " is not hex";
  return bytes ? bytes.release_value() : Bytes{};
}

}  // namespace pmos::testing

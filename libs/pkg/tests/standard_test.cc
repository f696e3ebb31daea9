#include "pmos/pkg/standard.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace pmos::pkg {
namespace {

nlohmann::json valid() {
  return nlohmann::json::parse(R"({
    "pmos_app_standard": 1, "version": 9,
    "categories": {"communication": {"capabilities": ["camera", "microphone"], "network": true}},
    "allowed_endpoints": ["*.agency.example:443"],
    "hardening": {"pie": true, "full_relro": true, "nx_stack": true, "stack_protector": true, "fortify": false},
    "limits": {"max_total_bytes": 10, "max_file_bytes": 5, "max_files": 2}})");
}

TEST(AppStandard, ParsesAValidDocument) {
  auto standard = AppStandard::from_json(valid().dump());
  ASSERT_TRUE(standard.has_value()) << standard.error().to_string();
  EXPECT_EQ(standard->version, 9u);
  ASSERT_NE(standard->grant_for(AppCategory::kCommunication), nullptr);
  EXPECT_EQ(standard->grant_for(AppCategory::kUtility), nullptr);
  EXPECT_EQ(standard->grant_for(AppCategory::kCommunication)->capabilities,
            (std::vector<Capability>{Capability::kCamera, Capability::kMicrophone}));
  EXPECT_TRUE(standard->hardening.pie);
  EXPECT_FALSE(standard->hardening.fortify);
  EXPECT_EQ(standard->limits.max_files, 2u);
}

TEST(AppStandard, IsStrict) {
  std::vector<std::function<void(nlohmann::json&)>> breakages = {
      [](auto& j) { j["pmos_app_standard"] = 2; },
      [](auto& j) { j["version"] = 0; },
      [](auto& j) { j["version"] = -1; },
      [](auto& j) { j["version"] = 4294967296ull; },
      [](auto& j) { j["version"] = "9"; },
      [](auto& j) { j.erase("limits"); },
      [](auto& j) { j["extra"] = 1; },  // a typo'd key must not be silently ignored
      [](auto& j) { j["categories"]["games"] = j["categories"]["communication"]; },
      [](auto& j) { j["categories"]["communication"]["capabilities"].push_back("telepathy"); },
      [](auto& j) { j["categories"]["communication"]["capabilities"].push_back("camera"); },
      [](auto& j) { j["categories"]["communication"]["network"] = 1; },
      [](auto& j) { j["categories"]["communication"].erase("network"); },
      [](auto& j) { j["allowed_endpoints"].push_back("*.com:443"); },
      [](auto& j) { j["allowed_endpoints"].push_back(443); },
      [](auto& j) { j["hardening"]["relro"] = true; },
      [](auto& j) { j["hardening"]["pie"] = "yes"; },
      [](auto& j) { j["limits"]["max_files"] = -3; },
      [](auto& j) { j["limits"]["max_files"] = 1.5; },
  };
  for (std::size_t i = 0; i < breakages.size(); ++i) {
    nlohmann::json j = valid();
    breakages[i](j);
    EXPECT_FALSE(AppStandard::from_json(j.dump()).has_value()) << "breakage " << i << ": " << j.dump();
  }
  EXPECT_FALSE(AppStandard::from_json("{").has_value());
  EXPECT_FALSE(AppStandard::from_json("[]").has_value());
}

}  // namespace
}  // namespace pmos::pkg

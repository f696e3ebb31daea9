#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "pmos/base/bytes.h"

namespace pmos::testing {

// The file `relative` (e.g. "mls/crypto-basics.json") in $PMOS_TESTVECTORS, or
// else in the checkout's ../shared/testvectors; nullopt when absent.
std::optional<std::filesystem::path> vector_path(std::string_view relative);

// True when running under CI=true, where missing vectors are a failure.
bool in_ci();

// What to tell a developer who lacks the vectors.
std::string missing_vectors_message(std::string_view relative);

nlohmann::json read_json(const std::filesystem::path& path);

// Hex field of a vector; fails the test (and returns empty) on bad hex.
Bytes hex_field(const nlohmann::json& object, const char* key);

}  // namespace pmos::testing

// Loads the vector file into `var` (an nlohmann::json), or skips the test with
// a message saying where to get the vectors; under CI=true it fails instead.
#define PMOS_LOAD_VECTORS(var, relative)                                  \
  auto var##_path = ::pmos::testing::vector_path(relative);               \
  if (!var##_path) {                                                      \
    if (::pmos::testing::in_ci()) {                                       \
      FAIL() << ::pmos::testing::missing_vectors_message(relative);       \
    } else {                                                              \
      GTEST_SKIP() << ::pmos::testing::missing_vectors_message(relative); \
    }                                                                     \
  }                                                                       \
  const nlohmann::json var = ::pmos::testing::read_json(*var##_path)

#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pmos/crypto/keys.h"
#include "pmos/pkg/package.h"
#include "pmos/pkg/standard.h"

namespace pmos::pkg::testing {

// A fresh directory under $TMPDIR, removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Runs argv[0] (searched in PATH) with stdout and stderr captured together.
struct CommandResult {
  int exit_code = -1;  // -1: did not exit normally
  std::string output;
};
CommandResult run_command(const std::vector<std::string>& argv);

// The C compiler the ELF tests use, or nullopt when there is none (tests then
// skip, except under CI=true where they fail).
std::optional<std::string> c_compiler();
// Compiles `source` with `flags`; the binary's bytes, or a test failure.
std::optional<Bytes> compile_c(const std::string& source, const std::vector<std::string>& flags);

// Fixtures: a valid manifest, a standard that admits it, and payload helpers.
Manifest sample_manifest();
AppStandard sample_standard();
Entry file(std::string path, std::string content, std::uint32_t mode = 0644);
Entry directory(std::string path, std::uint32_t mode = 0755);
Entry symlink(std::string path, std::string target);
Package sample_package(std::vector<Entry> extra = {});
crypto::PrivateKey new_key();

}  // namespace pmos::pkg::testing

// Skips (or, under CI, fails) a test that needs the C compiler.
#define PMOS_REQUIRE_CC()                                                    \
  do {                                                                       \
    if (!::pmos::pkg::testing::c_compiler()) {                               \
      if (std::getenv("CI") != nullptr && std::string(std::getenv("CI")) == "true") \
        FAIL() << "no C compiler, and CI=true";                              \
      GTEST_SKIP() << "no C compiler found; ELF tests need gcc";             \
    }                                                                        \
  } while (0)

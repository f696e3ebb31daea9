// The server's settings: flag over environment over config file, and a
// config file that is refused, with its line, when it says anything the
// server would not understand.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "src/options.h"

namespace pmos::server {
namespace {

class OptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("pmos-options-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    ::unsetenv("PMOS_THREADS");
    ::unsetenv("PMOS_LISTEN");
  }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
    ::unsetenv("PMOS_THREADS");
    ::unsetenv("PMOS_LISTEN");
  }

  std::string write_config(const std::string& text) {
    std::string path = (dir_ / "pmos-server.toml").string();
    std::ofstream(path) << text;
    return path;
  }

  ErrorOr<Options> parse(std::vector<std::string> args) {
    args.insert(args.begin(), "pmos-server");
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    return Options::parse(static_cast<int>(argv.size()), argv.data(), {"help"});
  }

  std::filesystem::path dir_;
};

TEST_F(OptionsTest, FlagBeatsEnvironmentBeatsFile) {
  write_config("threads = 3\nlisten = \"127.0.0.1:9000\"\nworkers = 5\nsan-dns = [\"a.example\", \"b.example\"]\n");
  auto options = parse({"run", "--data", dir_.string(), "--threads", "7"});
  ASSERT_TRUE(options.has_value());
  ASSERT_TRUE(options->load_config_file().has_value()) << options->config_error();
  EXPECT_EQ(options->config_path(), (dir_ / "pmos-server.toml").string());
  ::setenv("PMOS_THREADS", "4", 1);
  ::setenv("PMOS_LISTEN", "127.0.0.1:9100", 1);
  EXPECT_EQ(options->get_or("threads", "2"), "7") << "the flag wins";
  EXPECT_EQ(options->get_or("listen", ""), "127.0.0.1:9100") << "then the environment";
  EXPECT_EQ(options->get_or("workers", "2"), "5") << "then the file";
  EXPECT_EQ(options->get_or("san-dns", ""), "a.example,b.example");
  EXPECT_EQ(options->get_or("retention", "30d"), "30d") << "then the default";
  EXPECT_TRUE(options->unread().empty());
}

TEST_F(OptionsTest, NoConfigFileIsFine) {
  auto options = parse({"run", "--data", dir_.string()});
  ASSERT_TRUE(options.has_value());
  EXPECT_TRUE(options->load_config_file().has_value());
  EXPECT_TRUE(options->config_path().empty());
}

TEST_F(OptionsTest, ANamedConfigFileMustExist) {
  auto options = parse({"run", "--config", (dir_ / "missing.toml").string()});
  ASSERT_TRUE(options.has_value());
  EXPECT_FALSE(options->load_config_file().has_value());
  EXPECT_NE(options->config_error().find("no such file"), std::string::npos) << options->config_error();
}

TEST_F(OptionsTest, BadConfigFilesAreRefusedWithLineAndReason) {
  struct Case {
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      {"threads = 2\nthreds = 3\n", "2: threds: unknown key"},
      {"[relay]\nworkers = 2\n", "1: relay: unknown key"},
      {"listen = { host = \"x\" }\n", "listen: wants a string"},
      {"listen = 1.5\n", "listen: wants a string"},
      {"san-dns = [1, 2]\n", "arrays hold strings only"},
      {"san-dns = [\"a,b\"]\n", "may not contain ','"},
      {"data = \"/elsewhere\"\n", "only read from a file given with --config"},
      {"threads = \n", "pmos-server.toml: 1:"},
      {"config = \"other.toml\"\n", "a config file cannot name another"},
  };
  for (const Case& c : cases) {
    write_config(c.text);
    auto options = parse({"run", "--data", dir_.string()});
    ASSERT_TRUE(options.has_value());
    EXPECT_FALSE(options->load_config_file().has_value()) << c.text;
    EXPECT_NE(options->config_error().find(c.expected), std::string::npos)
        << c.text << " -> " << options->config_error();
  }
}

TEST_F(OptionsTest, AConfigNamedOnTheCommandLineMayNameTheDataDirectory) {
  std::string path = (dir_ / "server.toml").string();
  std::ofstream(path) << "data = \"" << dir_.string() << "\"\n";
  auto options = parse({"run", "--config", path});
  ASSERT_TRUE(options.has_value());
  ASSERT_TRUE(options->load_config_file().has_value()) << options->config_error();
  EXPECT_EQ(options->get_or("data", ""), dir_.string());
}

TEST_F(OptionsTest, EveryKnownSettingHasAnEnvironmentName) {
  ::setenv("PMOS_MAX_FRAME_BYTES", "123456", 1);
  auto options = parse({"run"});
  ASSERT_TRUE(options.has_value());
  EXPECT_EQ(options->get_or("max-frame-bytes", ""), "123456");
  ::unsetenv("PMOS_MAX_FRAME_BYTES");
}

}  // namespace
}  // namespace pmos::server

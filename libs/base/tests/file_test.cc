#include "pmos/base/file.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

namespace pmos {
namespace {

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/pmos-file-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(FileTest, WriteAtomicThenRead) {
  std::string path = dir_ + "/state";
  ASSERT_TRUE(write_file_atomic(path, Bytes{1, 2, 3}).has_value());
  EXPECT_EQ(read_file(path).value(), (Bytes{1, 2, 3}));
  ASSERT_TRUE(write_file_atomic(path, Bytes{4}).has_value());
  EXPECT_EQ(read_file(path).value(), (Bytes{4}));
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  for (const auto& entry : std::filesystem::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename(), "state") << "temporary file left behind";
}

TEST_F(FileTest, ErrorsAreClear) {
  auto missing = read_file(dir_ + "/nope");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().category(), ErrorCategory::kSystem);
  EXPECT_NE(missing.error().to_string().find("No such file"), std::string::npos);
  ASSERT_TRUE(write_file_atomic(dir_ + "/big", Bytes(100, 0)).has_value());
  EXPECT_FALSE(read_file(dir_ + "/big", 99).has_value());
  EXPECT_FALSE(read_file(dir_).has_value());  // a directory
  EXPECT_FALSE(write_file_atomic(dir_ + "/no/such/dir/file", Bytes{1}).has_value());
}

}  // namespace
}  // namespace pmos

#include "pmos/base/unique_fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace pmos {
namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(UniqueFd, ClosesOnDestructionAndMove) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    UniqueFd read_end(fds[0]);
    UniqueFd write_end(fds[1]);
    UniqueFd moved = std::move(write_end);
    EXPECT_FALSE(write_end);  // NOLINT(bugprone-use-after-move)
    EXPECT_TRUE(moved);
    EXPECT_TRUE(is_open(fds[1]));
    moved.reset();
    EXPECT_FALSE(is_open(fds[1]));
    EXPECT_TRUE(is_open(fds[0]));
  }
  EXPECT_FALSE(is_open(fds[0]));
}

TEST(UniqueFd, ReleaseGivesUpOwnership) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  UniqueFd a(fds[0]);
  int raw = a.release();
  EXPECT_FALSE(a);
  EXPECT_TRUE(is_open(raw));
  ::close(raw);
  ::close(fds[1]);
}

}  // namespace
}  // namespace pmos

// SmallFifo, the outgoing queue of a server WebSocket (src/small_fifo.h).
#include "../src/small_fifo.h"

#include <deque>
#include <string>

#include <gtest/gtest.h>

namespace pmos::net::detail {
namespace {

TEST(SmallFifo, KeepsOrderAcrossInterleavedPushAndPop) {
  SmallFifo<std::string> fifo;
  std::deque<std::string> reference;
  int next = 0;
  // Pushes outrun pops, then pops catch up, over and over: the head moves
  // through compactions and the storage is dropped and regrown.
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 3 + round % 7; ++i) {
      fifo.push_back(std::to_string(next));
      reference.push_back(std::to_string(next));
      ++next;
    }
    for (int i = 0; i < 2 + round % 5 && !reference.empty(); ++i) {
      ASSERT_FALSE(fifo.empty());
      EXPECT_EQ(fifo.pop_front(), reference.front());
      reference.pop_front();
    }
    ASSERT_EQ(fifo.size(), reference.size());
  }
  while (!reference.empty()) {
    EXPECT_EQ(fifo.pop_front(), reference.front());
    reference.pop_front();
  }
  EXPECT_TRUE(fifo.empty());
  EXPECT_EQ(fifo.size(), 0u);
}

TEST(SmallFifo, QueueThatNeverRunsEmptyStaysBounded) {
  SmallFifo<int> fifo;
  for (int i = 0; i < 5; ++i) fifo.push_back(i);
  for (int i = 5; i < 100'000; ++i) {
    fifo.push_back(i);
    EXPECT_EQ(fifo.pop_front(), i - 5);
  }
  EXPECT_EQ(fifo.size(), 5u);
  EXPECT_LE(fifo.storage_capacity(), 128u);
}

TEST(SmallFifo, ClearEmptiesIt) {
  SmallFifo<int> fifo;
  for (int i = 0; i < 100; ++i) fifo.push_back(i);
  fifo.clear();
  EXPECT_TRUE(fifo.empty());
  EXPECT_EQ(fifo.storage_capacity(), 0u);
  fifo.push_back(7);
  EXPECT_EQ(fifo.pop_front(), 7);
}

}  // namespace
}  // namespace pmos::net::detail

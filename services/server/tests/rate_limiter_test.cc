#include "src/rate_limiter.h"

#include <gtest/gtest.h>

#include "src/metrics.h"

namespace pmos::server {
namespace {

using std::chrono::milliseconds;

TEST(RateLimiter, AllowsTheBurstThenTheRate) {
  RateLimiter limiter(10, 5);  // 10/s, 5 at once
  auto t0 = RateLimiter::Clock::time_point() + std::chrono::hours(1);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(limiter.acquire("d1", t0), milliseconds(0)) << i;
  milliseconds wait = limiter.acquire("d1", t0);
  EXPECT_GT(wait.count(), 0);
  EXPECT_LE(wait.count(), 100);
  EXPECT_EQ(limiter.acquire("d2", t0), milliseconds(0)) << "each device has its own bucket";
  EXPECT_EQ(limiter.acquire("d1", t0 + milliseconds(100)), milliseconds(0)) << "one token back after 1/rate";
  EXPECT_GT(limiter.acquire("d1", t0 + milliseconds(100)).count(), 0);
  // Idle for long: back to the full burst, never more.
  auto later = t0 + std::chrono::seconds(60);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(limiter.acquire("d1", later), milliseconds(0));
  EXPECT_GT(limiter.acquire("d1", later).count(), 0);
}

TEST(RateLimiter, ZeroRateMeansNoLimit) {
  RateLimiter limiter(0, 1);
  EXPECT_FALSE(limiter.enabled());
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(limiter.acquire("d"), milliseconds(0));
  EXPECT_EQ(limiter.size(), 0u);
}

TEST(RateLimiter, TableStaysBoundedUnderManyKeys) {
  RateLimiter limiter(100, 2, 64);
  auto t0 = RateLimiter::Clock::time_point() + std::chrono::hours(1);
  for (int i = 0; i < 1000; ++i) {
    // Each key spends one token, then refills within 10 ms: prunable later.
    limiter.acquire("device-" + std::to_string(i), t0 + milliseconds(i * 20));
  }
  EXPECT_LE(limiter.size(), 65u);
}

TEST(LatencyHistogram, RendersCumulativeBuckets) {
  LatencyHistogram histogram;
  histogram.observe(std::chrono::microseconds(300));   // <= 0.0005
  histogram.observe(std::chrono::microseconds(1500));  // <= 0.002
  histogram.observe(std::chrono::seconds(10));         // +Inf
  std::string text = histogram.render("x_seconds", "help");
  EXPECT_NE(text.find("# TYPE x_seconds histogram"), std::string::npos);
  EXPECT_NE(text.find("x_seconds_bucket{le=\"0.0005\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_bucket{le=\"0.001\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_bucket{le=\"0.002\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_bucket{le=\"2.5\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_count 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_seconds_sum 10.001800\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace pmos::server

#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pmos::server {

// Token buckets keyed by device id: each device may spend `rate` requests
// per second on average and `burst` at once. Per device, not per
// connection, so opening more connections buys nothing. Thread-safe.
//
// The table holds one small entry per device seen; entries full again (idle
// for burst/rate seconds) are dropped when the table grows past
// `max_entries`, which bounds memory under a flood of device ids.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  RateLimiter(double rate, double burst, std::size_t max_entries = 1 << 20);

  // 0 means the request may proceed (and spent a token); otherwise how long
  // until one token is back.
  std::chrono::milliseconds acquire(std::string_view key, Clock::time_point now = Clock::now());

  bool enabled() const { return rate_ > 0; }
  std::size_t size() const;

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  void prune(Clock::time_point now);

  double rate_;
  double burst_;
  std::size_t max_entries_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace pmos::server

#include "rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace pmos::server {

RateLimiter::RateLimiter(double rate, double burst, std::size_t max_entries)
    : rate_(rate), burst_(std::max(1.0, burst)), max_entries_(max_entries) {}

std::chrono::milliseconds RateLimiter::acquire(std::string_view key, Clock::time_point now) {
  if (rate_ <= 0) return std::chrono::milliseconds(0);
  std::lock_guard lock(mutex_);
  auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_entries_) prune(now);
    it = buckets_.emplace(std::string(key), Bucket{burst_, now}).first;
  }
  Bucket& bucket = it->second;
  double elapsed = std::chrono::duration<double>(now - bucket.updated).count();
  if (elapsed > 0) {
    bucket.tokens = std::min(burst_, bucket.tokens + elapsed * rate_);
    bucket.updated = now;
  }
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    return std::chrono::milliseconds(0);
  }
  double wait_seconds = (1.0 - bucket.tokens) / rate_;
  return std::chrono::milliseconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait_seconds * 1000))));
}

std::size_t RateLimiter::size() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

void RateLimiter::prune(Clock::time_point now) {
  // A bucket that has refilled completely is indistinguishable from a new
  // one: forgetting it changes nothing for its device.
  std::erase_if(buckets_, [&](const auto& entry) {
    double elapsed = std::chrono::duration<double>(now - entry.second.updated).count();
    return entry.second.tokens + elapsed * rate_ >= burst_;
  });
}

}  // namespace pmos::server

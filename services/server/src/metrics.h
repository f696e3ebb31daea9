#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace pmos::server {

// A Prometheus histogram of durations with fixed buckets (seconds), lock-free:
// observe() is called on store threads at full message rate.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
                                                     0.05,   0.1,   0.25,  0.5,   1.0,  2.5};

  void observe(std::chrono::steady_clock::duration elapsed) {
    std::int64_t micros = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
    double seconds = static_cast<double>(micros) / 1e6;
    std::size_t bucket = 0;
    while (bucket < kBounds.size() && seconds > kBounds[bucket]) ++bucket;
    counts_[bucket].fetch_add(1, std::memory_order_relaxed);
    sum_micros_.fetch_add(micros, std::memory_order_relaxed);
  }

  // The text exposition of this histogram as metric `name`.
  std::string render(std::string_view name, std::string_view help) const;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> counts_{};
  std::atomic<std::int64_t> sum_micros_{0};
};

}  // namespace pmos::server

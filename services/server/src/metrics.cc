#include "metrics.h"

#include <cstdio>

namespace pmos::server {

std::string LatencyHistogram::render(std::string_view name, std::string_view help) const {
  std::string n(name);
  std::string out = "# HELP " + n + " " + std::string(help) + "\n# TYPE " + n + " histogram\n";
  std::uint64_t cumulative = 0;
  char bound[32];
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    std::snprintf(bound, sizeof bound, "%g", kBounds[i]);
    out += n + "_bucket{le=\"" + bound + "\"} " + std::to_string(cumulative) + "\n";
  }
  cumulative += counts_[kBounds.size()].load(std::memory_order_relaxed);
  out += n + "_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  char sum[48];
  std::snprintf(sum, sizeof sum, "%.6f", static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6);
  out += n + "_sum " + sum + "\n" + n + "_count " + std::to_string(cumulative) + "\n";
  return out;
}

}  // namespace pmos::server

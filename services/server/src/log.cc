#include "log.h"

#include <chrono>
#include <cstdio>
#include <mutex>

namespace pmos::server {

void log(std::string_view level, std::string_view message, nlohmann::json fields) {
  static std::mutex mutex;
  if (!fields.is_object()) fields = nlohmann::json::object();
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  fields["ts"] = static_cast<double>(now.count()) / 1000.0;
  fields["level"] = level;
  fields["msg"] = message;
  // Invalid UTF-8 from a peer must not throw out of a log call.
  std::string line = fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lock(mutex);
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace pmos::server

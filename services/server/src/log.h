#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace pmos::server {

// One JSON object per line on stderr: {"ts": ..., "level": ..., "msg": ..., fields...}.
// Thread-safe (a line is written whole).
void log(std::string_view level, std::string_view message, nlohmann::json fields = nlohmann::json::object());

}  // namespace pmos::server

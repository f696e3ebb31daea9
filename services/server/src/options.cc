#include "options.h"

#include <algorithm>
#include <charconv>

namespace pmos::server {

ErrorOr<Options> Options::parse(int argc, char** argv, const std::vector<std::string_view>& switches) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.starts_with("--")) {
      std::string_view body = arg.substr(2);
      std::size_t equals = body.find('=');
      std::string name(body.substr(0, equals));
      if (name.empty()) return Error::invalid_argument("empty option name");
      if (equals != std::string_view::npos) {
        options.flags_[name] = std::string(body.substr(equals + 1));
      } else if (std::find(switches.begin(), switches.end(), name) != switches.end()) {
        options.flags_[name] = "1";
      } else {
        if (i + 1 >= argc) return Error::invalid_argument("an option is missing its value");
        options.flags_[name] = argv[++i];
      }
    } else if (options.command_.empty()) {
      options.command_ = std::string(arg);
    } else {
      options.positional_.emplace_back(arg);
    }
  }
  return options;
}

std::optional<std::string> Options::get(std::string_view name) const {
  auto it = flags_.find(name);
  if (it == flags_.end()) return std::nullopt;
  read_[it->first] = true;
  return it->second;
}

std::string Options::get_or(std::string_view name, std::string_view fallback) const {
  std::optional<std::string> value = get(name);
  return value ? *value : std::string(fallback);
}

bool Options::has(std::string_view name) const { return get(name).has_value(); }

std::vector<std::string> Options::unread() const {
  std::vector<std::string> names;
  for (const auto& [name, value] : flags_)
    if (!read_.contains(name)) names.push_back(name);
  return names;
}

ErrorOr<std::chrono::seconds> parse_duration(std::string_view text) {
  if (text.empty()) return Error::invalid_argument("empty duration");
  std::int64_t unit = 1;
  switch (text.back()) {
    case 's': unit = 1; text.remove_suffix(1); break;
    case 'm': unit = 60; text.remove_suffix(1); break;
    case 'h': unit = 3600; text.remove_suffix(1); break;
    case 'd': unit = 86400; text.remove_suffix(1); break;
    default: break;
  }
  std::int64_t count = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
  if (error != std::errc() || end != text.data() + text.size() || count <= 0 || count > 100LL * 365 * 86400 / unit)
    return Error::invalid_argument("a duration is a positive number with s, m, h or d, e.g. 24h");
  return std::chrono::seconds(count * unit);
}

ErrorOr<ListenAddress> parse_listen(std::string_view text) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return Error::invalid_argument("--listen wants HOST:PORT");
  ListenAddress address;
  address.host = std::string(text.substr(0, colon));
  std::string_view port = text.substr(colon + 1);
  unsigned value = 0;
  auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (error != std::errc() || end != port.data() + port.size() || value > 65535)
    return Error::invalid_argument("--listen: bad port");
  address.port = static_cast<std::uint16_t>(value);
  return address;
}

}  // namespace pmos::server

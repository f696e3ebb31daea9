#include "options.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <sstream>

// toml++ stays in this file: it is a large header. Debian builds its shared
// library with exceptions, so parse errors arrive as toml::parse_error.
#include <toml++/toml.h>

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

namespace {

std::string environment_name(std::string_view setting) {
  std::string name = "PMOS_";
  for (char c : setting) name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace

const std::vector<std::string_view>& Options::known_settings() {
  static const std::vector<std::string_view> settings = {
      "config", "data", "database", "org", "san-dns", "san-ip", "user", "ttl", "count", "listen", "threads", "workers",
      "max-frame-bytes", "retention", "rate-limit", "rate-burst", "max-key-packages", "attachment-quota-bytes",
      "nats", "node-id", "max-connections",
      // the MLS suite policy (issue 9): "international" or "national"
      "mls-suite",
      // the log and witness roles (docs/log.md)
      "log-origin", "log-database", "interval-ms", "witness", "witness-quorum", "witness-ca", "witness-name",
      "witness-database", "log-vkey"};
  return settings;
}

std::optional<std::string> Options::get(std::string_view name) const {
  if (auto it = flags_.find(name); it != flags_.end()) {
    read_[it->first] = true;
    return it->second;
  }
  if (const char* value = std::getenv(environment_name(name).c_str())) return std::string(value);
  if (auto it = file_.find(name); it != file_.end()) return it->second;
  return std::nullopt;
}

ErrorOr<void> Options::load_config_file() {
  std::string path;
  bool named = false;
  if (std::optional<std::string> config = get("config")) {
    path = *config;
    named = true;
  } else if (std::optional<std::string> data = get("data")) {
    path = (std::filesystem::path(*data) / "pmos-server.toml").string();
    if (!std::filesystem::exists(path)) return {};
  } else {
    return {};
  }
  auto fail = [&](std::string message) -> ErrorOr<void> {
    config_error_ = path + ": " + message;
    return Error::invalid_argument("bad config file");
  };
  if (named && !std::filesystem::exists(path)) return fail("no such file");
  toml::table parsed;
  try {
    parsed = toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    std::ostringstream where;
    where << error.source().begin.line;
    return fail(where.str() + ": " + std::string(error.description()));
  }
  const std::vector<std::string_view>& known = known_settings();
  for (auto&& [key, node] : parsed) {
    std::string name(key.str());
    std::string at = std::to_string(node.source().begin.line) + ": " + name;
    if (std::find(known.begin(), known.end(), name) == known.end()) return fail(at + ": unknown key");
    if (name == "config") return fail(at + ": a config file cannot name another");
    if (name == "data" && !named) return fail(at + ": `data` is only read from a file given with --config");
    std::string value;
    if (auto text = node.value_exact<std::string>()) {
      value = *text;
    } else if (auto number = node.value_exact<std::int64_t>()) {
      value = std::to_string(*number);
    } else if (auto flag = node.value_exact<bool>()) {
      value = *flag ? "1" : "0";
    } else if (const toml::array* array = node.as_array()) {
      for (const toml::node& item : *array) {
        auto element = item.value_exact<std::string>();
        if (!element) return fail(at + ": arrays hold strings only");
        if (element->find(',') != std::string::npos) return fail(at + ": an item may not contain ','");
        value += (value.empty() ? "" : ",") + *element;
      }
    } else {
      return fail(at + ": wants a string, integer, boolean or array of strings (no tables)");
    }
    file_[name] = std::move(value);
  }
  config_path_ = path;
  return {};
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

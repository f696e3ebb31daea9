#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pmos/base/error_or.h"

namespace pmos::server {

// A command line: `pmos-server COMMAND [--flag value | --flag=value | --switch] [positional...]`.
// Plain data; which flags a command accepts is the command's business
// (unknown() lists those it did not read).
class Options {
 public:
  // `switches` are flags that take no value.
  static ErrorOr<Options> parse(int argc, char** argv, const std::vector<std::string_view>& switches);

  const std::string& command() const { return command_; }
  const std::vector<std::string>& positional() const { return positional_; }
  // The flag's value; marks it as read.
  std::optional<std::string> get(std::string_view name) const;
  std::string get_or(std::string_view name, std::string_view fallback) const;
  bool has(std::string_view name) const;
  // The flags nobody read, for "unknown option" errors.
  std::vector<std::string> unread() const;

 private:
  std::string command_;
  std::vector<std::string> positional_;
  std::map<std::string, std::string, std::less<>> flags_;
  mutable std::map<std::string, bool, std::less<>> read_;
};

// "90s", "30m", "24h", "7d" (a bare number is seconds).
ErrorOr<std::chrono::seconds> parse_duration(std::string_view text);

// "127.0.0.1:8443" -> host, port.
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
};
ErrorOr<ListenAddress> parse_listen(std::string_view text);

}  // namespace pmos::server

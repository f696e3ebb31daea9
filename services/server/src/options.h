#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pmos/base/error_or.h"

namespace pmos::server {

// A command line: `pmos-server COMMAND [--flag value | --flag=value | --switch] [positional...]`,
// layered over the environment and a config file (docs/server.md): a
// setting comes from the flag `--NAME`, else from `PMOS_NAME` (upper case,
// '-' as '_'), else from the key NAME of the TOML config file, else from the
// command's default. Which settings a command reads is the command's
// business (unread() lists the flags it did not read).
class Options {
 public:
  // `switches` are flags that take no value.
  static ErrorOr<Options> parse(int argc, char** argv, const std::vector<std::string_view>& switches);

  // Reads the config file named by the `config` setting (flag or
  // PMOS_CONFIG), else DATA/pmos-server.toml if the `data` setting names a
  // directory holding one; none is fine. Strict: a key that is no setting of
  // any command, a nested table, or a value that is not a string, integer,
  // boolean or array of strings is refused with the file, line and key.
  ErrorOr<void> load_config_file();
  // The file load_config_file() read, if any.
  const std::string& config_path() const { return config_path_; }
  // Why the last config error happened ("pmos-server.toml:3: unknown key").
  const std::string& config_error() const { return config_error_; }

  // Every setting any command reads (the config file may hold only these).
  static const std::vector<std::string_view>& known_settings();

  const std::string& command() const { return command_; }
  const std::vector<std::string>& positional() const { return positional_; }
  // The setting's value (flag, environment, file); marks the flag as read.
  std::optional<std::string> get(std::string_view name) const;
  std::string get_or(std::string_view name, std::string_view fallback) const;
  bool has(std::string_view name) const;
  // The flags nobody read, for "unknown option" errors.
  std::vector<std::string> unread() const;

 private:
  std::string command_;
  std::vector<std::string> positional_;
  std::map<std::string, std::string, std::less<>> flags_;
  std::map<std::string, std::string, std::less<>> file_;
  std::string config_path_;
  std::string config_error_;
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

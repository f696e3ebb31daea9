#pragma once

// The client commands shared by `pmos-log` and the device CLI's `pmos log`
// (docs/log.md): they verify a log from outside and need no storage, so
// they live in tlogd_client.
//
//   show               --url URL --vkey VKEY [--ca PEM] [witness flags]
//   verify-inclusion   ... --index N [--entry FILE]
//   verify-consistency ... --old CHECKPOINT_FILE
//   monitor            ... [--interval-ms N] [--once]
//
// witness flags: --witness VKEY[,VKEY...] [--quorum N]: the checkpoint must
// carry valid cosignatures (cosignature/v1) from N of those witnesses
// (default: all of them). --vkey and --witness take the key text or @FILE.
//
// Exit status: 0 verified, 1 a check failed (the log misbehaved or the
// input is wrong), 2 usage or I/O error.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "pmos/base/error_or.h"

namespace pmos::tlogd {

inline constexpr int kExitVerified = 0;
inline constexpr int kExitCheckFailed = 1;
inline constexpr int kExitUsage = 2;

// True for show, verify-inclusion, verify-consistency and monitor.
bool is_log_client_command(std::string_view command);
// Runs one of them; `args` are the flags after the command name. `program`
// prefixes messages ("pmos-log", "pmos log").
int run_log_client_command(std::string_view program, std::string_view command, const std::vector<std::string>& args);
// The usage lines of the client commands, each starting with `program`.
std::string log_client_usage(std::string_view program);

// The flag handling both programs use.
namespace cli {
using Flags = std::map<std::string, std::string, std::less<>>;
// "--name value" pairs; "--once" is the one flag without a value.
ErrorOr<Flags> parse_flags(const std::vector<std::string>& args);
std::string flag(const Flags& flags, std::string_view name, std::string fallback = {});
ErrorOr<std::uint64_t> parse_u64(std::string_view text);
// A small text file (a key, a checkpoint): at most a note's size.
ErrorOr<std::string> read_text(const std::string& path);
// Without trailing newlines and spaces.
std::string trim(std::string text);
}  // namespace cli

}  // namespace pmos::tlogd

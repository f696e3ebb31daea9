#pragma once

#include <string>
#include <vector>

namespace pmos::cli {

// `pmos chat <subcommand> ...`: enroll this device with pmos-server and chat
// (docs/chat.md). `args` excludes "pmos chat". Returns the exit code: 0
// success, 1 a failure, 2 a usage error.
int run_chat_command(const std::vector<std::string>& args);

}  // namespace pmos::cli

// A shell command run by an integration test: its stdout and exit status.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace pmos::itest {

struct CommandResult {
  int status = -1;
  std::string out;
};

inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.out.append(buffer, n);
  int status = ::pclose(pipe);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace pmos::itest

// pmos: the PMOS command-line tool. Each subcommand family is in its own file.
#include <cstdio>
#include <string>
#include <vector>

#include "app_command.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "app") {
    return pmos::cli::run_app_command(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  std::fputs("usage: pmos app <keygen|pack|sign|rotate|vet|countersign|verify|inspect> ...\n", stderr);
  return 2;
}

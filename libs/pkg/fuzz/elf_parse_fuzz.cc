// Fuzzes the ELF parser with arbitrary bytes. Property: it never crashes or
// reads outside the input (ASan), and never loops long (the relocation and
// symbol bounds). Real binaries copied into its corpus directory
// (build/fuzz/corpus/elf_parse_fuzz) make a much deeper start.
#include "pmos/pkg/elf.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto info = pmos::pkg::parse_elf(pmos::BytesView(data, size));
  if (info) {
    std::size_t total = 0;
    for (const auto& name : info->imported_symbols) total += name.size();
    (void)total;
  }
  return 0;
}

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"

namespace pmos::pkg {

// What vetting needs to know about an ELF file, read from the structures the
// dynamic loader uses (program headers and the dynamic segment, not the
// section headers, which a loader ignores and a packer can strip or fake).
struct ElfInfo {
  std::uint16_t type = 0;     // ET_EXEC, ET_DYN, ...
  std::uint16_t machine = 0;  // EM_X86_64, EM_AARCH64, ...
  bool has_interp = false;      // PT_INTERP: a dynamically linked program
  bool has_dynamic = false;     // PT_DYNAMIC
  bool has_gnu_relro = false;   // PT_GNU_RELRO
  bool has_gnu_stack = false;   // PT_GNU_STACK
  bool stack_executable = false;  // PT_GNU_STACK with PF_X
  bool bind_now = false;        // DT_BIND_NOW, DF_BIND_NOW or DF_1_NOW
  bool flag_pie = false;        // DF_1_PIE
  // Undefined global or weak dynamic symbols: what the file imports.
  std::vector<std::string> imported_symbols;
};

// Whether `file` starts with the ELF magic (and so must parse for vetting).
bool looks_like_elf(BytesView file);

// Parses an ELF64 little-endian file strictly: every offset, size and count is
// checked against the file before use, with overflow-safe arithmetic, and any
// inconsistency (a segment past the end, two PT_DYNAMIC, a dynamic section
// without DT_NULL, a symbol name running off its string table ...) is a
// kDecode error. ELF32 and big-endian files are kUnsupported. Never reads
// outside `file`; a decoder for untrusted input, fuzzed by elf_parse_fuzz.
ErrorOr<ElfInfo> parse_elf(BytesView file);

}  // namespace pmos::pkg

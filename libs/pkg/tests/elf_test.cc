#include "pmos/pkg/elf.h"

#include <elf.h>

#include <random>

#include <gtest/gtest.h>

#include "pmos/pkg/vet.h"
#include "test_util.h"

namespace pmos::pkg {
namespace {

using testing::compile_c;

// Uses a stack buffer (so -fstack-protector-strong instruments main) and
// strcpy/printf on it (so FORTIFY turns them into __strcpy_chk/__printf_chk).
constexpr const char* kProgram = R"(
#include <stdio.h>
#include <string.h>
int main(int argc, char** argv) {
  char buffer[64];
  strcpy(buffer, argc > 5 ? argv[1] : "hello");
  printf("%s %d\n", buffer, argc);
  return 0;
}
)";

const std::vector<std::string> kHardened = {"-O2", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong",
                                            "-fPIE", "-pie", "-Wl,-z,relro,-z,now", "-Wl,-z,noexecstack"};

std::vector<std::string> hardened_but(std::vector<std::string> replace_with, std::vector<std::string> drop) {
  std::vector<std::string> flags;
  for (const std::string& f : kHardened)
    if (std::find(drop.begin(), drop.end(), f) == drop.end()) flags.push_back(f);
  flags.insert(flags.end(), replace_with.begin(), replace_with.end());
  return flags;
}

bool imports(const ElfInfo& info, std::string_view name) {
  return std::find(info.imported_symbols.begin(), info.imported_symbols.end(), name) != info.imported_symbols.end();
}

ElfInfo parse_ok(const Bytes& binary) {
  auto info = parse_elf(binary);
  EXPECT_TRUE(info.has_value()) << info.error().to_string();
  return info.has_value() ? *info : ElfInfo{};
}

TEST(Elf, HardenedBinary) {
  PMOS_REQUIRE_CC();
  auto binary = compile_c(kProgram, kHardened);
  ASSERT_TRUE(binary);
  ElfInfo info = parse_ok(*binary);
  EXPECT_EQ(info.type, ET_DYN);
  EXPECT_TRUE(info.has_interp);
  EXPECT_TRUE(info.has_gnu_relro);
  EXPECT_TRUE(info.bind_now);
  EXPECT_TRUE(info.has_gnu_stack);
  EXPECT_FALSE(info.stack_executable);
  EXPECT_TRUE(imports(info, "__stack_chk_fail"));
  EXPECT_TRUE(imports(info, "__strcpy_chk") || imports(info, "__printf_chk"));
  EXPECT_FALSE(imports(info, "main"));  // defined, not imported
}

TEST(Elf, EachMissingHardeningIsSeen) {
  PMOS_REQUIRE_CC();
  auto no_pie = compile_c(kProgram, hardened_but({"-fno-pie", "-no-pie"}, {"-fPIE", "-pie"}));
  ASSERT_TRUE(no_pie);
  EXPECT_EQ(parse_ok(*no_pie).type, ET_EXEC);

  auto partial_relro = compile_c(kProgram, hardened_but({"-Wl,-z,relro,-z,lazy"}, {"-Wl,-z,relro,-z,now"}));
  ASSERT_TRUE(partial_relro);
  ElfInfo partial = parse_ok(*partial_relro);
  EXPECT_TRUE(partial.has_gnu_relro);
  EXPECT_FALSE(partial.bind_now);

  auto no_relro = compile_c(kProgram, hardened_but({"-Wl,-z,norelro,-z,lazy"}, {"-Wl,-z,relro,-z,now"}));
  ASSERT_TRUE(no_relro);
  EXPECT_FALSE(parse_ok(*no_relro).has_gnu_relro);

  auto exec_stack = compile_c(kProgram, hardened_but({"-Wl,-z,execstack"}, {"-Wl,-z,noexecstack"}));
  ASSERT_TRUE(exec_stack);
  ElfInfo stack = parse_ok(*exec_stack);
  EXPECT_TRUE(stack.has_gnu_stack);
  EXPECT_TRUE(stack.stack_executable);

  auto no_ssp = compile_c(kProgram, hardened_but({"-fno-stack-protector"}, {"-fstack-protector-strong"}));
  ASSERT_TRUE(no_ssp);
  EXPECT_FALSE(imports(parse_ok(*no_ssp), "__stack_chk_fail"));

  auto no_fortify = compile_c(kProgram, hardened_but({"-O0", "-U_FORTIFY_SOURCE"}, {"-O2", "-D_FORTIFY_SOURCE=2"}));
  ASSERT_TRUE(no_fortify);
  ElfInfo plain = parse_ok(*no_fortify);
  EXPECT_FALSE(imports(plain, "__strcpy_chk"));
  EXPECT_FALSE(imports(plain, "__printf_chk"));
}

// The vetting rules over real binaries: the hardened one passes every ELF
// rule, each weakened one fails exactly the rule it weakens.
TEST(Elf, VettingNamesTheWeakenedRule) {
  PMOS_REQUIRE_CC();
  AppStandard standard = testing::sample_standard();
  standard.hardening = AppStandard::Hardening{true, true, true, true, true};
  struct Case {
    std::vector<std::string> flags;
    const char* failing_rule;  // nullptr: all pass
  };
  std::vector<Case> cases = {
      {kHardened, nullptr},
      {hardened_but({"-fno-pie", "-no-pie"}, {"-fPIE", "-pie"}), "elf.pie"},
      {hardened_but({"-Wl,-z,relro,-z,lazy"}, {"-Wl,-z,relro,-z,now"}), "elf.full_relro"},
      {hardened_but({"-Wl,-z,execstack"}, {"-Wl,-z,noexecstack"}), "elf.nx_stack"},
      {hardened_but({"-fno-stack-protector"}, {"-fstack-protector-strong"}), "elf.stack_protector"},
      {hardened_but({"-O2", "-U_FORTIFY_SOURCE"}, {"-D_FORTIFY_SOURCE=2"}), "elf.fortify"},
  };
  for (const Case& c : cases) {
    auto binary = compile_c(kProgram, c.flags);
    ASSERT_TRUE(binary);
    Package package = testing::sample_package();
    package.content.payload[1].content = *binary;  // bin/notes
    package.digest = compute_digest(package.content);
    VetReport report = vet(package, standard);
    std::vector<std::string> failed;
    for (const RuleResult& r : report.results)
      if (r.verdict == Verdict::kFail) failed.push_back(r.rule);
    if (c.failing_rule == nullptr) {
      EXPECT_TRUE(failed.empty()) << report.to_text();
    } else {
      EXPECT_EQ(failed, std::vector<std::string>{c.failing_rule}) << report.to_text();
    }
  }
}

// With every hardening switch off, an unhardened binary passes and each
// ELF rule says N/A rather than PASS.
TEST(Elf, HardeningRulesCanBeSwitchedOff) {
  PMOS_REQUIRE_CC();
  auto binary = compile_c(kProgram, {"-O0", "-fno-pie", "-no-pie", "-fno-stack-protector", "-Wl,-z,norelro,-z,lazy"});
  ASSERT_TRUE(binary);
  Package package = testing::sample_package();
  package.content.payload[1].content = *binary;
  package.digest = compute_digest(package.content);
  AppStandard standard = testing::sample_standard();  // all hardening off
  VetReport report = vet(package, standard);
  EXPECT_TRUE(report.passed()) << report.to_text();
  int not_required = 0;
  for (const RuleResult& r : report.results)
    if (r.verdict == Verdict::kNotRequired) ++not_required;
  EXPECT_EQ(not_required, 5) << report.to_text();
  standard.hardening = AppStandard::Hardening{true, true, true, true, true};
  EXPECT_FALSE(vet(package, standard).passed());
}

TEST(Elf, SharedObjectsAndStaticBinaries) {
  PMOS_REQUIRE_CC();
  auto library = compile_c("#include <string.h>\nvoid f(char* d, const char* s) { char b[32]; strcpy(b, s); strcpy(d, b); }\n",
                           {"-O2", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-fPIC", "-shared",
                            "-Wl,-z,relro,-z,now"});
  ASSERT_TRUE(library);
  ElfInfo info = parse_ok(*library);
  EXPECT_EQ(info.type, ET_DYN);
  EXPECT_FALSE(info.has_interp);
  EXPECT_TRUE(info.bind_now);

  auto static_binary = compile_c(kProgram, {"-O2", "-static", "-fno-pie", "-no-pie"});
  if (!static_binary) GTEST_SKIP() << "no static libc";
  ElfInfo s = parse_ok(*static_binary);
  EXPECT_FALSE(s.has_interp);
  EXPECT_TRUE(s.imported_symbols.empty());
}

// --- malformed input -------------------------------------------------------

void put16(Bytes& b, std::size_t at, std::uint16_t v) {
  for (int i = 0; i < 2; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}
void put32(Bytes& b, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}
void put64(Bytes& b, std::size_t at, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint64_t get64(const Bytes& b, std::size_t at) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{b[at + i]} << (8 * i);
  return v;
}

// A minimal well-formed ELF64 LE file: header plus `segments` program headers.
Bytes minimal_elf(const std::vector<std::pair<std::uint32_t, std::uint32_t>>& segments) {
  Bytes b(64 + 56 * segments.size(), 0);
  b[0] = 0x7f, b[1] = 'E', b[2] = 'L', b[3] = 'F', b[4] = 2, b[5] = 1, b[6] = 1;
  put16(b, 16, ET_DYN);
  put16(b, 18, EM_X86_64);
  put32(b, 20, 1);
  put64(b, 32, 64);
  put16(b, 52, 64);
  put16(b, 54, 56);
  put16(b, 56, static_cast<std::uint16_t>(segments.size()));
  for (std::size_t i = 0; i < segments.size(); ++i) {
    put32(b, 64 + 56 * i, segments[i].first);
    put32(b, 64 + 56 * i + 4, segments[i].second);
  }
  return b;
}

TEST(Elf, MinimalFile) {
  auto info = parse_elf(minimal_elf({{PT_GNU_STACK, PF_R | PF_W}, {PT_GNU_RELRO, PF_R}}));
  ASSERT_TRUE(info.has_value()) << info.error().to_string();
  EXPECT_TRUE(info->has_gnu_stack);
  EXPECT_FALSE(info->stack_executable);
  EXPECT_TRUE(info->has_gnu_relro);
  EXPECT_FALSE(info->has_dynamic);
}

TEST(Elf, RejectsMalformedHeaders) {
  const Bytes good = minimal_elf({{PT_GNU_STACK, PF_R | PF_W}});
  ASSERT_TRUE(parse_elf(good).has_value());
  std::vector<std::pair<const char*, std::function<void(Bytes&)>>> cases = {
      {"magic", [](Bytes& b) { b[1] = 'X'; }},
      {"ident version", [](Bytes& b) { b[6] = 2; }},
      {"e_version", [](Bytes& b) { put32(b, 20, 2); }},
      {"e_ehsize", [](Bytes& b) { put16(b, 52, 52); }},
      {"e_phentsize", [](Bytes& b) { put16(b, 54, 32); }},
      {"phoff past end", [](Bytes& b) { put64(b, 32, 1 << 20); }},
      {"phoff overflow", [](Bytes& b) { put64(b, 32, ~std::uint64_t{0} - 8); }},
      {"phnum past end", [](Bytes& b) { put16(b, 56, 1000); }},
      {"two PT_GNU_STACK", [](Bytes& b) {
         Bytes extra(b.begin() + 64, b.begin() + 120);
         b.insert(b.end(), extra.begin(), extra.end());
         put16(b, 56, 2);
       }},
  };
  for (auto& [name, mutate] : cases) {
    Bytes b = good;
    mutate(b);
    auto result = parse_elf(b);
    EXPECT_FALSE(result.has_value()) << name;
    if (!result.has_value()) {
      EXPECT_EQ(result.error().category(), ErrorCategory::kDecode) << name;
    }
  }
  Bytes xnum = good;
  put16(xnum, 56, 0xffff);  // PN_XNUM: the count lives in section 0; not supported
  EXPECT_EQ(parse_elf(xnum).error().category(), ErrorCategory::kUnsupported);
  Bytes elf32 = good;
  elf32[4] = 1;
  EXPECT_EQ(parse_elf(elf32).error().category(), ErrorCategory::kUnsupported);
  Bytes big_endian = good;
  big_endian[5] = 2;
  EXPECT_EQ(parse_elf(big_endian).error().category(), ErrorCategory::kUnsupported);
  for (std::size_t size = 0; size < good.size(); ++size)
    EXPECT_FALSE(parse_elf(BytesView(good).first(size)).has_value()) << size;
  EXPECT_FALSE(looks_like_elf(to_bytes("#!/bin/sh\n")));
}

TEST(Elf, RejectsSegmentsOutsideTheFile) {
  for (std::uint32_t type : {PT_LOAD, PT_DYNAMIC, PT_INTERP}) {
    Bytes b = minimal_elf({{type, PF_R}});
    put64(b, 64 + 8, 100);   // p_offset
    put64(b, 64 + 32, 100);  // p_filesz: ends at 200 > file size 120
    put64(b, 64 + 40, 100);
    EXPECT_FALSE(parse_elf(b).has_value()) << type;
    put64(b, 64 + 8, ~std::uint64_t{0});  // offset + size overflows
    EXPECT_FALSE(parse_elf(b).has_value()) << type;
  }
  Bytes load = minimal_elf({{PT_LOAD, PF_R}});
  put64(load, 64 + 32, 16);  // filesz > memsz (0)
  EXPECT_FALSE(parse_elf(load).has_value());
}

// The dynamic segment of a real binary, then broken in the ways a hostile
// packer might: no DT_NULL, symbol table pointing nowhere, bad DT_SYMENT.
TEST(Elf, RejectsBrokenDynamicSegments) {
  PMOS_REQUIRE_CC();
  auto binary = compile_c(kProgram, kHardened);
  ASSERT_TRUE(binary);
  const Bytes& good = *binary;
  std::uint64_t phoff = get64(good, 32);
  std::uint16_t phnum = static_cast<std::uint16_t>(good[56] | (good[57] << 8));
  std::uint64_t dyn_off = 0, dyn_size = 0;
  for (std::uint16_t i = 0; i < phnum; ++i) {
    std::size_t at = phoff + 56 * i;
    if ((good[at] | (good[at + 1] << 8)) == PT_DYNAMIC) {
      dyn_off = get64(good, at + 8);
      dyn_size = get64(good, at + 32);
    }
  }
  ASSERT_GT(dyn_size, 0u);
  auto with_tag = [&](std::int64_t tag, const std::function<void(Bytes&, std::size_t)>& f) {
    Bytes b = good;
    for (std::uint64_t at = dyn_off; at + 16 <= dyn_off + dyn_size; at += 16) {
      if (static_cast<std::int64_t>(get64(b, at)) == tag) {
        f(b, at);
        return b;
      }
    }
    ADD_FAILURE() << "tag " << tag << " not found";
    return b;
  };
  // Every DT_NULL turned into DT_DEBUG: no terminator left.
  Bytes no_null = good;
  for (std::uint64_t at = dyn_off; at + 16 <= dyn_off + dyn_size; at += 16)
    if (get64(no_null, at) == DT_NULL) put64(no_null, at, DT_DEBUG);
  EXPECT_FALSE(parse_elf(no_null).has_value());
  EXPECT_FALSE(parse_elf(with_tag(DT_SYMTAB, [](Bytes& b, std::size_t at) { put64(b, at + 8, 1ull << 40); })).has_value());
  EXPECT_FALSE(parse_elf(with_tag(DT_STRTAB, [](Bytes& b, std::size_t at) { put64(b, at + 8, 1ull << 40); })).has_value());
  EXPECT_FALSE(parse_elf(with_tag(DT_SYMENT, [](Bytes& b, std::size_t at) { put64(b, at + 8, 16); })).has_value());
  EXPECT_FALSE(parse_elf(with_tag(DT_STRSZ, [](Bytes& b, std::size_t at) { put64(b, at + 8, 0); })).has_value());
  EXPECT_FALSE(parse_elf(with_tag(DT_JMPREL, [](Bytes& b, std::size_t at) { put64(b, at + 8, 1ull << 40); })).has_value());
  EXPECT_FALSE(parse_elf(with_tag(DT_PLTRELSZ, [](Bytes& b, std::size_t at) { put64(b, at + 8, 1ull << 40); })).has_value());
  EXPECT_FALSE(parse_elf(with_tag(DT_PLTRELSZ, [](Bytes& b, std::size_t at) { put64(b, at + 8, 25); })).has_value());
  EXPECT_FALSE(parse_elf(with_tag(DT_PLTREL, [](Bytes& b, std::size_t at) { put64(b, at + 8, 99); })).has_value());
  EXPECT_FALSE(parse_elf(with_tag(DT_RELAENT, [](Bytes& b, std::size_t at) { put64(b, at + 8, 16); })).has_value());
  // The dynamic segment alone, cut short of the file: the parser must stop.
  for (std::size_t size = 0; size < good.size(); size += 97) (void)parse_elf(BytesView(good).first(size));
}

// Random corruption of a real binary's headers: never a crash or an
// out-of-bounds read (the asan build checks that), whatever the verdict.
TEST(Elf, SurvivesRandomCorruption) {
  PMOS_REQUIRE_CC();
  auto binary = compile_c(kProgram, kHardened);
  ASSERT_TRUE(binary);
  std::mt19937_64 rng(1234);
  std::size_t head = std::min<std::size_t>(binary->size(), 4096);
  int parsed = 0;
  for (int round = 0; round < 3000; ++round) {
    Bytes b = *binary;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) b[rng() % head] = static_cast<std::uint8_t>(rng());
    if (parse_elf(b).has_value()) ++parsed;
  }
  EXPECT_GT(parsed, 0);  // most single flips land in code or padding
}

}  // namespace
}  // namespace pmos::pkg

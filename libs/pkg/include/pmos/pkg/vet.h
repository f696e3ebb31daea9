#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "pmos/pkg/package.h"
#include "pmos/pkg/standard.h"

namespace pmos::pkg {

enum class Verdict : std::uint8_t {
  kPass = 1,
  kFail = 2,
  kNotRequired = 3,  // the standard switches this rule off
};
bool tls_enum_valid(Verdict verdict);
std::string_view to_string(Verdict verdict);

// One rule applied to one subject (a payload path, or empty for the package
// as a whole), with the reason in words.
struct RuleResult {
  std::string rule;     // e.g. "elf.full_relro"
  std::string subject;  // e.g. "bin/notes"
  Verdict verdict = Verdict::kPass;
  std::string reason;
  static auto tls_fields(auto& self) {
    return std::tie(self.rule, self.subject, self.verdict, self.reason);
  }
};

// The outcome of vetting one package against one standard: every rule, in a
// fixed order. Deterministic, so anyone holding the package and the standard
// recomputes the same report and the same digest, which the vetting record
// carries.
struct VetReport {
  std::uint32_t standard_version = 0;
  Digest package_digest{};
  std::vector<RuleResult> results;
  static auto tls_fields(auto& self) {
    return std::tie(self.standard_version, self.package_digest, self.results);
  }

  bool passed() const;
  // SHA-256 of "PMOS vetting report v1" || 0x00 || encode(report).
  Digest digest() const;
  // One line per result, failures marked, then the verdict and the digest.
  std::string to_text() const;
};

// Applies every rule of `standard` to `package` (docs/vetting.md lists them).
// Signatures play no part: vetting judges content.
VetReport vet(const Package& package, const AppStandard& standard);

}  // namespace pmos::pkg

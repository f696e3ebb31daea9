#include "pmos/pkg/vet.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>

#include "pmos/base/codec.h"
#include "pmos/crypto/hash.h"
#include "pmos/pkg/elf.h"

namespace pmos::pkg {

bool tls_enum_valid(Verdict verdict) {
  return verdict == Verdict::kPass || verdict == Verdict::kFail || verdict == Verdict::kNotRequired;
}

std::string_view to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::kPass: return "PASS";
    case Verdict::kFail: return "FAIL";
    case Verdict::kNotRequired: return "N/A";
  }
  return "?";
}

bool VetReport::passed() const {
  return std::none_of(results.begin(), results.end(),
                      [](const RuleResult& r) { return r.verdict == Verdict::kFail; });
}

Digest VetReport::digest() const {
  Bytes message = to_bytes(std::string_view("PMOS vetting report v1"));
  message.push_back(0);
  append(message, tls::encode(*this));
  Bytes hash = crypto::sha256().digest(message);
  Digest out{};
  std::memcpy(out.data(), hash.data(), out.size());
  return out;
}

std::string VetReport::to_text() const {
  std::string text = "app standard version " + std::to_string(standard_version) + "\npackage digest " +
                     to_hex(package_digest) + "\n";
  for (const RuleResult& r : results) {
    text += std::string(to_string(r.verdict)) + "  " + r.rule;
    if (!r.subject.empty()) text += "  " + r.subject;
    text += ": " + r.reason + "\n";
  }
  text += passed() ? "verdict: PASS\n" : "verdict: FAIL\n";
  text += "report digest " + to_hex(digest()) + "\n";
  return text;
}

namespace {

// Accumulates results in rule order. A rule that found nothing wrong gets one
// pass line saying what it checked, so the report lists every rule.
class Report {
 public:
  explicit Report(VetReport& out) : out_(out) {}
  void pass(std::string rule, std::string subject, std::string reason) {
    out_.results.push_back({std::move(rule), std::move(subject), Verdict::kPass, std::move(reason)});
  }
  void fail(std::string rule, std::string subject, std::string reason) {
    out_.results.push_back({std::move(rule), std::move(subject), Verdict::kFail, std::move(reason)});
  }
  void not_required(std::string rule, std::string subject) {
    out_.results.push_back({std::move(rule), std::move(subject), Verdict::kNotRequired,
                            "not required by this app standard"});
  }
  std::size_t size() const { return out_.results.size(); }
  // Adds `reason` as a pass unless something failed for `rule` since `mark`.
  void pass_unless_failed(std::size_t mark, const std::string& rule, std::string reason) {
    for (std::size_t i = mark; i < out_.results.size(); ++i)
      if (out_.results[i].rule == rule && out_.results[i].verdict == Verdict::kFail) return;
    pass(rule, "", std::move(reason));
  }

 private:
  VetReport& out_;
};

std::string octal(std::uint32_t mode) {
  char buffer[12];  // 11 octal digits hold any uint32 (g++ -O3 checks, -Werror=format-truncation)
  std::snprintf(buffer, sizeof buffer, "%04o", mode);
  return buffer;
}

void check_permissions(const Manifest& manifest, const AppStandard& standard, Report& report) {
  std::string category(to_string(manifest.category));
  const AppStandard::CategoryGrant* grant = standard.grant_for(manifest.category);
  if (grant == nullptr) {
    report.fail("manifest.category", "", "category '" + category + "' is not admitted by this app standard");
  } else {
    report.pass("manifest.category", "", "category '" + category + "' is admitted");
  }

  std::size_t mark = report.size();
  for (Capability capability : manifest.permissions.capabilities) {
    bool allowed = grant != nullptr && std::find(grant->capabilities.begin(), grant->capabilities.end(),
                                                 capability) != grant->capabilities.end();
    if (!allowed)
      report.fail("manifest.capabilities", std::string(to_string(capability)),
                  "not granted to category '" + category + "'");
  }
  report.pass_unless_failed(mark, "manifest.capabilities",
                            std::to_string(manifest.permissions.capabilities.size()) +
                                " requested capabilities, all granted to category '" + category + "'");

  mark = report.size();
  for (const std::string& text : manifest.permissions.network) {
    if (grant == nullptr || !grant->network) {
      report.fail("manifest.network", text, "category '" + category + "' may not use the network");
      continue;
    }
    auto requested = EndpointPattern::parse(text);
    if (!requested) {  // decode_package() already refuses these
      report.fail("manifest.network", text, "not a valid endpoint pattern");
      continue;
    }
    auto covering = std::find_if(standard.allowed_endpoints.begin(), standard.allowed_endpoints.end(),
                                 [&](const EndpointPattern& allowed) { return allowed.covers(*requested); });
    if (covering == standard.allowed_endpoints.end())
      report.fail("manifest.network", text, "not inside any endpoint the app standard allows");
  }
  report.pass_unless_failed(mark, "manifest.network",
                            std::to_string(manifest.permissions.network.size()) +
                                " requested endpoints, all inside allowed endpoints");
}

void check_entry_point(const Package& package, Report& report) {
  const std::string& entry_point = package.manifest().entry_point;
  auto it = std::find_if(package.payload().begin(), package.payload().end(),
                         [&](const Entry& e) { return e.path == entry_point; });
  if (it == package.payload().end()) {
    report.fail("manifest.entry_point", entry_point, "not in the payload");
  } else if (it->type != EntryType::kFile) {
    report.fail("manifest.entry_point", entry_point, "is a " + std::string(to_string(it->type)) + ", not a regular file");
  } else if ((it->mode & 0100) == 0) {
    report.fail("manifest.entry_point", entry_point, "is not executable by its owner (mode " + octal(it->mode) + ")");
  } else {
    report.pass("manifest.entry_point", entry_point, "regular executable file");
  }
}

// How a symlink resolves inside the package. Resolution follows symlinks
// within the payload as the kernel would (a purely textual check misses
// "a -> x/.." when x is itself a link to ".."), with a hop limit like
// the kernel's. Paths that do not exist are resolved textually, which can
// only make the check stricter.
enum class LinkResolution { kInside, kAbsolute, kEscapes, kLoop };

LinkResolution resolve_link(const std::map<std::string_view, const Entry*>& entries, const Entry& link) {
  constexpr int kMaxHops = 40;
  std::vector<std::string> stack;
  std::string_view parent(link.path);
  auto slash = parent.rfind('/');
  parent = slash == std::string_view::npos ? std::string_view() : parent.substr(0, slash);
  auto push_components = [](std::string_view path, std::deque<std::string>& out, bool front) {
    std::vector<std::string> parts;
    while (!path.empty()) {
      auto next = path.find('/');
      parts.emplace_back(path.substr(0, next));
      if (next == std::string_view::npos) break;
      path.remove_prefix(next + 1);
    }
    if (front) {
      out.insert(out.begin(), parts.begin(), parts.end());
    } else {
      out.insert(out.end(), parts.begin(), parts.end());
    }
  };
  std::deque<std::string> scratch;
  push_components(parent, scratch, false);
  stack.assign(scratch.begin(), scratch.end());

  std::deque<std::string> pending;
  std::string_view target = as_string(link.content);
  if (target.starts_with('/')) return LinkResolution::kAbsolute;
  push_components(target, pending, false);
  int hops = 0;
  while (!pending.empty()) {
    std::string component = std::move(pending.front());
    pending.pop_front();
    if (component.empty() || component == ".") continue;
    if (component == "..") {
      if (stack.empty()) return LinkResolution::kEscapes;
      stack.pop_back();
      continue;
    }
    stack.push_back(std::move(component));
    std::string path;
    for (const std::string& part : stack) path += (path.empty() ? "" : "/") + part;
    auto it = entries.find(path);
    if (it == entries.end() || it->second->type != EntryType::kSymlink) continue;
    if (++hops > kMaxHops) return LinkResolution::kLoop;
    std::string_view next = as_string(it->second->content);
    if (next.starts_with('/')) return LinkResolution::kAbsolute;
    stack.pop_back();  // the link resolves relative to its own directory
    push_components(next, pending, true);
  }
  return LinkResolution::kInside;
}

void check_content(const Package& package, Report& report) {
  const auto& payload = package.payload();
  std::map<std::string_view, const Entry*> entries;
  for (const Entry& entry : payload) entries.emplace(entry.path, &entry);

  std::size_t mark = report.size();
  for (const Entry& e : payload) {
    // A setuid binary in an app would run with its owner's rights outside
    // the app's own; none has a use for it.
    if (e.type != EntryType::kSymlink && (e.mode & 06000) != 0)
      report.fail("content.setuid_setgid", e.path, "mode " + octal(e.mode) + " has setuid or setgid");
  }
  report.pass_unless_failed(mark, "content.setuid_setgid", "no entry has setuid or setgid");

  mark = report.size();
  for (const Entry& e : payload) {
    // A device node would give the app whatever the device gives (raw disks,
    // memory); a FIFO has no place in a read-only package.
    if (e.type == EntryType::kCharDevice || e.type == EntryType::kBlockDevice || e.type == EntryType::kFifo)
      report.fail("content.special_files", e.path, "is a " + std::string(to_string(e.type)));
  }
  report.pass_unless_failed(mark, "content.special_files", "no device nodes or FIFOs");

  mark = report.size();
  for (const Entry& e : payload) {
    if (e.type != EntryType::kSymlink && (e.mode & 0002) != 0)
      report.fail("content.world_writable", e.path, "mode " + octal(e.mode) + " is writable by others");
  }
  report.pass_unless_failed(mark, "content.world_writable", "no entry is writable by others");

  mark = report.size();
  for (const Entry& e : payload) {
    if (e.type != EntryType::kSymlink) continue;
    std::string target(as_string(e.content));
    switch (resolve_link(entries, e)) {
      case LinkResolution::kInside: break;
      case LinkResolution::kAbsolute:
        report.fail("content.symlinks", e.path, "-> " + target + " resolves to an absolute path");
        break;
      case LinkResolution::kEscapes:
        report.fail("content.symlinks", e.path, "-> " + target + " leads outside the package");
        break;
      case LinkResolution::kLoop:
        report.fail("content.symlinks", e.path, "-> " + target + " loops (more than 40 links)");
        break;
    }
  }
  report.pass_unless_failed(mark, "content.symlinks", "every symlink stays inside the package");
}

void check_limits(const Package& package, const AppStandard& standard, Report& report) {
  const auto& limits = standard.limits;
  std::uint64_t files = package.payload().size();
  if (files > limits.max_files) {
    report.fail("limits.file_count", "", std::to_string(files) + " entries, limit " + std::to_string(limits.max_files));
  } else {
    report.pass("limits.file_count", "", std::to_string(files) + " entries, limit " + std::to_string(limits.max_files));
  }
  std::uint64_t total = 0;
  std::size_t mark = report.size();
  for (const Entry& e : package.payload()) {
    if (e.type != EntryType::kFile) continue;
    total += e.content.size();
    if (e.content.size() > limits.max_file_bytes)
      report.fail("limits.file_size", e.path,
                  std::to_string(e.content.size()) + " bytes, limit " + std::to_string(limits.max_file_bytes));
  }
  report.pass_unless_failed(mark, "limits.file_size", "every file within " + std::to_string(limits.max_file_bytes) + " bytes");
  if (total > limits.max_total_bytes) {
    report.fail("limits.total_size", "", std::to_string(total) + " bytes, limit " + std::to_string(limits.max_total_bytes));
  } else {
    report.pass("limits.total_size", "", std::to_string(total) + " bytes, limit " + std::to_string(limits.max_total_bytes));
  }
}

constexpr std::uint16_t kEtExec = 2;
constexpr std::uint16_t kEtDyn = 3;

bool imports(const ElfInfo& info, std::string_view name) {
  return std::find(info.imported_symbols.begin(), info.imported_symbols.end(), name) !=
         info.imported_symbols.end();
}

void check_elf(const Entry& e, const AppStandard::Hardening& required, Report& report) {
  auto parsed = parse_elf(e.content);
  if (!parsed) {
    report.fail("elf.format", e.path, parsed.error().to_string());
    return;
  }
  const ElfInfo& info = *parsed;
  if (info.type != kEtExec && info.type != kEtDyn) {
    report.fail("elf.format", e.path, "ELF type " + std::to_string(info.type) + " is neither an executable nor a shared object");
    return;
  }
  report.pass("elf.format", e.path, info.type == kEtExec ? "ELF64 executable" : "ELF64 shared object");

  if (!required.pie) {
    report.not_required("elf.pie", e.path);
  } else if (info.type == kEtExec) {
    // A fixed-address executable defeats ASLR for its code: every gadget
    // in it sits at a known address.
    report.fail("elf.pie", e.path, "ET_EXEC: fixed-address executable (build with -fPIE -pie)");
  } else if (info.has_interp || info.flag_pie) {
    report.pass("elf.pie", e.path, info.has_interp ? "ET_DYN with PT_INTERP" : "ET_DYN with DF_1_PIE");
  } else {
    report.pass("elf.pie", e.path, "shared object (position-independent)");
  }

  if (!required.full_relro) {
    report.not_required("elf.full_relro", e.path);
  } else if (!info.has_gnu_relro) {
    report.fail("elf.full_relro", e.path, "no PT_GNU_RELRO (link with -Wl,-z,relro,-z,now)");
  } else if (!info.bind_now) {
    // Partial RELRO leaves the GOT writable for lazy binding: a write
    // primitive then redirects any library call.
    report.fail("elf.full_relro", e.path, "partial RELRO: PT_GNU_RELRO without BIND_NOW (link with -Wl,-z,now)");
  } else {
    report.pass("elf.full_relro", e.path, "PT_GNU_RELRO and BIND_NOW");
  }

  if (!required.nx_stack) {
    report.not_required("elf.nx_stack", e.path);
  } else if (!info.has_gnu_stack) {
    report.fail("elf.nx_stack", e.path, "no PT_GNU_STACK: the kernel may map an executable stack");
  } else if (info.stack_executable) {
    report.fail("elf.nx_stack", e.path, "PT_GNU_STACK has PF_X: executable stack");
  } else {
    report.pass("elf.nx_stack", e.path, "PT_GNU_STACK without PF_X");
  }

  if (!required.stack_protector) {
    report.not_required("elf.stack_protector", e.path);
  } else if (imports(info, "__stack_chk_fail")) {
    report.pass("elf.stack_protector", e.path, "imports __stack_chk_fail");
  } else {
    report.fail("elf.stack_protector", e.path,
                "does not import __stack_chk_fail (build with -fstack-protector-strong; static binaries cannot be checked)");
  }

  if (!required.fortify) {
    report.not_required("elf.fortify", e.path);
  } else {
    auto fortified = std::find_if(info.imported_symbols.begin(), info.imported_symbols.end(), [](const std::string& s) {
      return s.starts_with("__") && s.ends_with("_chk") && s != "__stack_chk_fail";
    });
    if (fortified != info.imported_symbols.end()) {
      report.pass("elf.fortify", e.path, "imports " + *fortified);
    } else {
      report.fail("elf.fortify", e.path, "imports no __*_chk function (build with -O2 -D_FORTIFY_SOURCE=2)");
    }
  }
}

}  // namespace

VetReport vet(const Package& package, const AppStandard& standard) {
  VetReport out;
  out.standard_version = standard.version;
  out.package_digest = package.digest;
  Report report(out);
  check_permissions(package.manifest(), standard, report);
  check_entry_point(package, report);
  check_content(package, report);
  check_limits(package, standard, report);
  std::size_t elf_files = 0;
  for (const Entry& e : package.payload()) {
    if (e.type != EntryType::kFile || !looks_like_elf(e.content)) continue;
    ++elf_files;
    check_elf(e, standard.hardening, report);
  }
  if (elf_files == 0) report.pass("elf.format", "", "the payload holds no ELF files");
  return out;
}

}  // namespace pmos::pkg

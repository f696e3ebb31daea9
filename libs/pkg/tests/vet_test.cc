#include "pmos/pkg/vet.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace pmos::pkg {
namespace {

using testing::directory;
using testing::file;
using testing::sample_package;
using testing::sample_standard;
using testing::symlink;

// The failing (rule, subject) pairs of a report.
std::vector<std::pair<std::string, std::string>> failures(const VetReport& report) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const RuleResult& r : report.results)
    if (r.verdict == Verdict::kFail) out.emplace_back(r.rule, r.subject);
  return out;
}

using Failures = std::vector<std::pair<std::string, std::string>>;

TEST(Vet, SamplePassesAndListsEveryRule) {
  VetReport report = vet(sample_package(), sample_standard());
  EXPECT_TRUE(report.passed()) << report.to_text();
  std::vector<std::string> rules;
  for (const RuleResult& r : report.results) rules.push_back(r.rule);
  for (const char* rule : {"manifest.category", "manifest.capabilities", "manifest.network", "manifest.entry_point",
                           "content.setuid_setgid", "content.special_files", "content.world_writable",
                           "content.symlinks", "limits.file_count", "limits.file_size", "limits.total_size",
                           "elf.format"})
    EXPECT_NE(std::find(rules.begin(), rules.end(), rule), rules.end()) << rule;
  EXPECT_EQ(report.standard_version, 3u);
  EXPECT_NE(report.to_text().find("verdict: PASS"), std::string::npos);
}

TEST(Vet, ReportIsDeterministicAndBoundToThePackage) {
  Package package = sample_package();
  VetReport a = vet(package, sample_standard());
  VetReport b = vet(package, sample_standard());
  EXPECT_EQ(a.digest(), b.digest());
  VetReport other = vet(sample_package({file("x", "y")}), sample_standard());
  EXPECT_NE(a.digest(), other.digest());
  AppStandard newer = sample_standard();
  newer.version = 4;
  EXPECT_NE(a.digest(), vet(package, newer).digest());
}

TEST(Vet, ForbiddenContent) {
  struct Case {
    Entry entry;
    Failures expected;
  };
  std::vector<Case> cases = {
      {file("setuid", "x", 04755), {{"content.setuid_setgid", "setuid"}}},
      {file("setgid", "x", 02755), {{"content.setuid_setgid", "setgid"}}},
      {directory("shared", 02775), {{"content.setuid_setgid", "shared"}}},
      {file("open", "x", 0666), {{"content.world_writable", "open"}}},
      {directory("tmp", 01777), {{"content.world_writable", "tmp"}}},
      {Entry{"mem", EntryType::kCharDevice, 0600, {0, 0, 0, 1, 0, 0, 0, 1}}, {{"content.special_files", "mem"}}},
      {Entry{"sda", EntryType::kBlockDevice, 0600, {0, 0, 0, 8, 0, 0, 0, 0}}, {{"content.special_files", "sda"}}},
      {Entry{"pipe", EntryType::kFifo, 0600, {}}, {{"content.special_files", "pipe"}}},
      {symlink("abs", "/etc/passwd"), {{"content.symlinks", "abs"}}},
      {symlink("up", "../x"), {{"content.symlinks", "up"}}},
      {symlink("share/up2", "../../etc"), {{"content.symlinks", "share/up2"}}},
      {symlink("dotdot", ".."), {{"content.symlinks", "dotdot"}}},
      {symlink("self", "self"), {{"content.symlinks", "self"}}},  // a loop
  };
  for (Case& c : cases) {
    std::string name = c.entry.path;
    VetReport report = vet(sample_package({std::move(c.entry)}), sample_standard());
    EXPECT_FALSE(report.passed()) << name;
    EXPECT_EQ(failures(report), c.expected) << name << "\n" << report.to_text();
  }
}

TEST(Vet, SymlinksInsideThePackagePass) {
  Package package = sample_package({symlink("share/notes", "../bin/notes"), symlink("latest", "share"),
                                    symlink("share/here", "."), symlink("share/up", ".."),
                                    symlink("dangling", "share/none/../../bin")});
  VetReport report = vet(package, sample_standard());
  EXPECT_TRUE(report.passed()) << report.to_text();
}

// A textual check would accept "share/out -> up/.." (share/up/.. = share),
// but share/up is itself a link to "..", so it really resolves to the
// parent of the package root.
TEST(Vet, SymlinkEscapingThroughAnotherSymlink) {
  Package package = sample_package({symlink("share/up", ".."), symlink("share/out", "up/..")});
  VetReport report = vet(package, sample_standard());
  EXPECT_EQ(failures(report), (Failures{{"content.symlinks", "share/out"}})) << report.to_text();
  Package via_link = sample_package({symlink("root", "."), symlink("share/abs", "../root/../../x")});
  EXPECT_EQ(failures(vet(via_link, sample_standard())), (Failures{{"content.symlinks", "share/abs"}}));
  Package loop = sample_package({symlink("a", "b"), symlink("b", "a")});
  EXPECT_EQ(failures(vet(loop, sample_standard())), (Failures{{"content.symlinks", "a"}, {"content.symlinks", "b"}}));
}

TEST(Vet, PermissionsPerCategory) {
  AppStandard standard = sample_standard();
  Package package = sample_package();
  package.content.manifest.permissions.capabilities.push_back(Capability::kMicrophone);
  EXPECT_EQ(failures(vet(package, standard)), (Failures{{"manifest.capabilities", "microphone"}}));

  package = sample_package();
  package.content.manifest.category = AppCategory::kUtility;  // no network, no files
  EXPECT_EQ(failures(vet(package, standard)),
            (Failures{{"manifest.capabilities", "files"}, {"manifest.network", "api.agency.example:443"}}));

  package = sample_package();
  package.content.manifest.category = AppCategory::kMedia;  // not admitted at all
  Failures f = failures(vet(package, standard));
  ASSERT_FALSE(f.empty());
  EXPECT_EQ(f[0], (std::pair<std::string, std::string>{"manifest.category", ""}));
}

TEST(Vet, NetworkEndpointsMustStayInsideTheAllowedOnes) {
  AppStandard standard = sample_standard();  // *.agency.example:443, tiles.maps.example:*
  auto with_network = [](std::vector<std::string> endpoints) {
    Package package = sample_package();
    std::sort(endpoints.begin(), endpoints.end());
    package.content.manifest.permissions.network = endpoints;
    return package;
  };
  EXPECT_TRUE(vet(with_network({"chat.agency.example:443", "tiles.maps.example:8443", "*.agency.example:443"}),
                  standard).passed());
  EXPECT_EQ(failures(vet(with_network({"api.agency.example:80"}), standard)),
            (Failures{{"manifest.network", "api.agency.example:80"}}));
  EXPECT_EQ(failures(vet(with_network({"a.b.agency.example:443"}), standard)),
            (Failures{{"manifest.network", "a.b.agency.example:443"}}));
  EXPECT_EQ(failures(vet(with_network({"api.agency.example:*"}), standard)),
            (Failures{{"manifest.network", "api.agency.example:*"}}));
  EXPECT_EQ(failures(vet(with_network({"*.maps.example:443"}), standard)),
            (Failures{{"manifest.network", "*.maps.example:443"}}));
}

TEST(Vet, EntryPoint) {
  Package package = sample_package();
  package.content.manifest.entry_point = "bin/missing";
  EXPECT_EQ(failures(vet(package, sample_standard())), (Failures{{"manifest.entry_point", "bin/missing"}}));
  package = sample_package();
  package.content.manifest.entry_point = "share/readme.txt";  // mode 0644
  EXPECT_EQ(failures(vet(package, sample_standard())), (Failures{{"manifest.entry_point", "share/readme.txt"}}));
  package = sample_package();
  package.content.manifest.entry_point = "share";
  EXPECT_EQ(failures(vet(package, sample_standard())), (Failures{{"manifest.entry_point", "share"}}));
}

TEST(Vet, SizeLimits) {
  AppStandard standard = sample_standard();
  standard.limits = {100, 10, 5};
  // Files: bin/notes is 21 bytes, share/readme.txt 5.
  EXPECT_EQ(failures(vet(sample_package(), standard)), (Failures{{"limits.file_size", "bin/notes"}}));
  standard.limits = {20, 1000, 5};
  EXPECT_EQ(failures(vet(sample_package(), standard)), (Failures{{"limits.total_size", ""}}));
  standard.limits = {1000, 1000, 3};
  EXPECT_EQ(failures(vet(sample_package(), standard)), (Failures{{"limits.file_count", ""}}));
  standard.limits = {26, 21, 4};  // exactly at every limit
  EXPECT_TRUE(vet(sample_package(), standard).passed());
}

TEST(Vet, MalformedElfFails) {
  Bytes broken = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0};
  Package package = sample_package({Entry{"lib", EntryType::kFile, 0644, broken}});
  EXPECT_EQ(failures(vet(package, sample_standard())), (Failures{{"elf.format", "lib"}}));
}

}  // namespace
}  // namespace pmos::pkg

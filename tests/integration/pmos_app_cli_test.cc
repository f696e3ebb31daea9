// End to end through the real `pmos` binary, as a developer and the vetting
// team use it: keygen, pack, sign, vet, countersign, verify, inspect; then a
// tampered package, a wrong authority, a failing package, a downgrade and a
// key rotation, each refused with exit code 1.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;

struct Result {
  int exit_code = -1;
  std::string output;
};

// Runs `program args...` with stdout and stderr captured together.
Result run(const std::string& program, const std::vector<std::string>& args) {
  Result result;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return result;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> argv = {const_cast<char*>(program.c_str())};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0) result.output.append(buffer, n);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

class PmosAppCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "pmos-app-cli-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    if (run("gcc", {"--version"}).exit_code != 0) {
      if (const char* ci = std::getenv("CI"); ci && std::string(ci) == "true") FAIL() << "gcc missing under CI";
      GTEST_SKIP() << "gcc not found";
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result app(std::vector<std::string> args) {
    args.insert(args.begin(), "app");
    return run(PMOS_BINARY, args);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(dir_ / name) << text; }

  // An app tree with one hardened binary and a manifest of `version`.
  void make_app(const std::string& tree, int version) {
    fs::create_directories(dir_ / tree / "bin");
    write("main.c",
          "#include <stdio.h>\n#include <string.h>\n"
          "int main(int c, char** v) { char b[64]; strcpy(b, c > 5 ? v[1] : \"hi\"); printf(\"%s\\n\", b); return 0; }\n");
    Result cc = run("gcc", {"-O2", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-fPIE", "-pie",
                            "-Wl,-z,relro,-z,now", "-Wl,-z,noexecstack", path("main.c"), "-o",
                            path(tree + "/bin/field")});
    ASSERT_EQ(cc.exit_code, 0) << cc.output;
    write(tree + ".json", R"({"app_id": "org.agency.field", "version_code": )" + std::to_string(version) +
                              R"(, "version_name": "1.)" + std::to_string(version) +
                              R"(", "developer": "Agency Field Team", "entry_point": "bin/field",
                              "category": "field", "permissions": {"network": ["forms.agency.example:443"],
                              "capabilities": ["camera", "location"]}})");
  }

  fs::path dir_;
};

constexpr const char* kStandard = R"({
  "pmos_app_standard": 1, "version": 5,
  "categories": {"field": {"capabilities": ["camera", "location", "notifications"], "network": true}},
  "allowed_endpoints": ["*.agency.example:443"],
  "hardening": {"pie": true, "full_relro": true, "nx_stack": true, "stack_protector": true, "fortify": true},
  "limits": {"max_total_bytes": 10000000, "max_file_bytes": 5000000, "max_files": 1000}
})";

TEST_F(PmosAppCli, DeveloperToAuthorityToDevice) {
  write("standard.json", kStandard);
  make_app("app", 1);
  ASSERT_EQ(app({"keygen", "--out", path("dev")}).exit_code, 0);
  ASSERT_EQ(app({"keygen", "--out", path("authority")}).exit_code, 0);
  struct stat st {};
  ASSERT_EQ(::stat(path("dev.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  Result r = app({"pack", "--dir", path("app"), "--manifest", path("app.json"), "--out", path("app.pkg")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = app({"sign", "--key", path("dev.key"), "--in", path("app.pkg"), "--out", path("app.pkg")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = app({"vet", "--standard", path("standard.json"), path("app.pkg")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("PASS  elf.full_relro  bin/field"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("verdict: PASS"), std::string::npos);

  // Not yet countersigned: verification refuses.
  r = app({"verify", "--authority", path("authority.pub"), "--standard", path("standard.json"), path("app.pkg")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("not countersigned"), std::string::npos) << r.output;

  r = app({"countersign", "--key", path("authority.key"), "--standard", path("standard.json"), "--in",
           path("app.pkg"), "--out", path("app.pkg")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = app({"verify", "--authority", path("authority.pub"), "--standard", path("standard.json"), "--pins",
           path("pins"), path("app.pkg")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("OK org.agency.field version 1"), std::string::npos) << r.output;

  r = app({"inspect", path("app.pkg")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* expected : {"\"app_id\": \"org.agency.field\"", "bin/field", "developer signature: key id",
                               "(valid)", "countersignature: authority key id", "standard 5"})
    EXPECT_NE(r.output.find(expected), std::string::npos) << expected << "\n" << r.output;

  // Tampering: one byte in the middle of the binary.
  std::ifstream in(path("app.pkg"), std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  std::string tampered = bytes.str();
  tampered[tampered.size() / 2] ^= 0x01;
  std::ofstream(path("tampered.pkg"), std::ios::binary) << tampered;
  r = app({"verify", "--authority", path("authority.pub"), "--standard", path("standard.json"), path("tampered.pkg")});
  EXPECT_EQ(r.exit_code, 1) << r.output;

  // The wrong authority key.
  ASSERT_EQ(app({"keygen", "--out", path("other")}).exit_code, 0);
  r = app({"verify", "--authority", path("other.pub"), "--standard", path("standard.json"), path("app.pkg")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("not a configured authority key"), std::string::npos) << r.output;

  // Installing the same version again over the pin: a replay.
  r = app({"verify", "--authority", path("authority.pub"), "--standard", path("standard.json"), "--pins",
           path("pins"), path("app.pkg")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("does not grow"), std::string::npos) << r.output;

  // Version 2 under a new developer key: refused without a rotation
  // statement, accepted with one signed by the old key.
  make_app("app2", 2);
  ASSERT_EQ(app({"keygen", "--out", path("dev2")}).exit_code, 0);
  ASSERT_EQ(app({"pack", "--dir", path("app2"), "--manifest", path("app2.json"), "--out", path("v2.pkg")}).exit_code, 0);
  ASSERT_EQ(app({"sign", "--key", path("dev2.key"), "--in", path("v2.pkg"), "--out", path("v2.pkg")}).exit_code, 0);
  ASSERT_EQ(app({"countersign", "--key", path("authority.key"), "--standard", path("standard.json"), "--in",
                 path("v2.pkg"), "--out", path("v2.pkg")}).exit_code, 0);
  r = app({"verify", "--authority", path("authority.pub"), "--standard", path("standard.json"), "--pins",
           path("pins"), path("v2.pkg")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("no rotation statement"), std::string::npos) << r.output;

  r = app({"rotate", "--old-key", path("dev.key"), "--new-pub", path("dev2.pub"), "--app-id", "org.agency.field",
           "--out", path("rotation.rot")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(app({"sign", "--key", path("dev2.key"), "--rotation", path("rotation.rot"), "--in", path("v2.pkg"),
                 "--out", path("v2.pkg")}).exit_code, 0);
  ASSERT_EQ(app({"countersign", "--key", path("authority.key"), "--standard", path("standard.json"), "--in",
                 path("v2.pkg"), "--out", path("v2.pkg")}).exit_code, 0);
  r = app({"verify", "--authority", path("authority.pub"), "--standard", path("standard.json"), "--pins",
           path("pins"), path("v2.pkg")});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(PmosAppCli, RefusesToCountersignAFailingPackage) {
  write("standard.json", kStandard);
  make_app("app", 1);
  ::chmod(path("app/bin/field").c_str(), 04755);  // setuid
  ASSERT_EQ(app({"keygen", "--out", path("dev")}).exit_code, 0);
  ASSERT_EQ(app({"keygen", "--out", path("authority")}).exit_code, 0);
  ASSERT_EQ(app({"pack", "--dir", path("app"), "--manifest", path("app.json"), "--out", path("app.pkg")}).exit_code, 0);
  ASSERT_EQ(app({"sign", "--key", path("dev.key"), "--in", path("app.pkg"), "--out", path("app.pkg")}).exit_code, 0);
  Result r = app({"vet", "--standard", path("standard.json"), path("app.pkg")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("FAIL  content.setuid_setgid  bin/field"), std::string::npos) << r.output;
  r = app({"countersign", "--key", path("authority.key"), "--standard", path("standard.json"), "--in",
           path("app.pkg"), "--out", path("countersigned.pkg")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(fs::exists(path("countersigned.pkg")));
}

TEST_F(PmosAppCli, RefusesAnOpenPrivateKeyAndBadUsage) {
  ASSERT_EQ(app({"keygen", "--out", path("dev")}).exit_code, 0);
  ::chmod(path("dev.key").c_str(), 0644);
  write("m.json", "{}");
  Result r = app({"rotate", "--old-key", path("dev.key"), "--new-pub", path("dev.pub"), "--app-id", "org.a.b",
                  "--out", path("r.rot")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("chmod 600"), std::string::npos) << r.output;
  EXPECT_EQ(app({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(app({"pack", "--bogus", "x"}).exit_code, 2);
  EXPECT_EQ(app({}).exit_code, 2);
}

}  // namespace

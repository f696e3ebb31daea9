#include "test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "pmos/crypto/random.h"
#include "pmos/crypto/signature.h"

namespace pmos::pkg::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base ? base : "/tmp") + "/pmos-pkg-test-XXXXXX";
  VERIFY(::mkdtemp(pattern.data()) != nullptr);
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

CommandResult run_command(const std::vector<std::string>& argv) {
  CommandResult result;
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return result;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipe_fds[1], 1);
    ::dup2(pipe_fds[1], 2);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    std::vector<char*> args;
    for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0) result.output.append(buffer, n);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

std::optional<std::string> c_compiler() {
  static const std::optional<std::string> compiler = []() -> std::optional<std::string> {
    for (std::string candidate : {std::string(PMOS_TEST_CC), std::string("gcc"), std::string("cc")}) {
      if (run_command({candidate, "--version"}).exit_code == 0) return candidate;
    }
    return std::nullopt;
  }();
  return compiler;
}

std::optional<Bytes> compile_c(const std::string& source, const std::vector<std::string>& flags) {
  auto compiler = c_compiler();
  if (!compiler) return std::nullopt;
  TempDir dir;
  std::filesystem::path c_file = dir.path() / "t.c", out = dir.path() / "t.out";
  std::ofstream(c_file) << source;
  std::vector<std::string> argv = {*compiler};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.insert(argv.end(), {c_file.string(), "-o", out.string()});
  CommandResult result = run_command(argv);
  if (result.exit_code != 0) {
    ADD_FAILURE() << "compiling failed: " << result.output;
    return std::nullopt;
  }
  std::ifstream in(out, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  std::string text = contents.str();
  return Bytes(text.begin(), text.end());
}

Manifest sample_manifest() {
  Manifest m;
  m.app_id = "org.agency.notes";
  m.version_code = 7;
  m.version_name = "1.4.2";
  m.developer = "Agency Apps Team";
  m.entry_point = "bin/notes";
  m.category = AppCategory::kProductivity;
  m.permissions.network = {"api.agency.example:443"};
  m.permissions.capabilities = {Capability::kNotifications, Capability::kFiles};
  return m;
}

AppStandard sample_standard() {
  auto standard = AppStandard::from_json(R"({
    "pmos_app_standard": 1,
    "version": 3,
    "categories": {
      "productivity": {"capabilities": ["notifications", "files"], "network": true},
      "utility": {"capabilities": ["notifications"], "network": false}
    },
    "allowed_endpoints": ["*.agency.example:443", "tiles.maps.example:*"],
    "hardening": {"pie": false, "full_relro": false, "nx_stack": false,
                  "stack_protector": false, "fortify": false},
    "limits": {"max_total_bytes": 1000000, "max_file_bytes": 100000, "max_files": 100}
  })");
  VERIFY(standard.has_value());
  return std::move(standard).value();
}

Entry file(std::string path, std::string content, std::uint32_t mode) {
  return Entry{std::move(path), EntryType::kFile, mode, to_bytes(content)};
}
Entry directory(std::string path, std::uint32_t mode) {
  return Entry{std::move(path), EntryType::kDirectory, mode, {}};
}
Entry symlink(std::string path, std::string target) {
  return Entry{std::move(path), EntryType::kSymlink, kSymlinkMode, to_bytes(target)};
}

Package sample_package(std::vector<Entry> extra) {
  std::vector<Entry> payload = {directory("bin"), file("bin/notes", "#!/bin/sh\necho notes\n", 0755),
                                directory("share"), file("share/readme.txt", "hello")};
  for (Entry& e : extra) payload.push_back(std::move(e));
  auto package = make_package(sample_manifest(), std::move(payload));
  VERIFY(package.has_value());
  return std::move(package).value();
}

crypto::PrivateKey new_key() {
  auto key = crypto::ed25519().generate();
  VERIFY(key.has_value());
  return std::move(key).value();
}

}  // namespace pmos::pkg::testing

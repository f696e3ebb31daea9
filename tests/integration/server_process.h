// The pmos-server process of the integration tests, on SQLite or on a
// PostgreSQL the test starts itself (or is given). Needs nothing but libc and
// pmos::base, so that tests linking SQLCipher can use it too.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pg_throwaway.h"
#include "run_command.h"
#include "pmos/base/bytes.h"
#include "pmos/base/file.h"

namespace pmos::itest {

using namespace std::chrono_literals;

// ---- the server process

class ServerProcess {
 public:
  // `database`: empty for SQLite in the data directory, else a libpq string.
  explicit ServerProcess(std::string database) : database_(std::move(database)) {
    char pattern[] = "/tmp/pmos-server-test-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) std::abort();
    dir_ = pattern;
    data_ = dir_ + "/data";
  }
  ~ServerProcess() {
    stop();
    if (!keep_) std::filesystem::remove_all(dir_);
  }

  const std::string& data() const { return data_; }
  const std::string& dir() const { return dir_; }
  // Extra arguments for `run` (limits, --nats, --config ...).
  void set_run_args(std::vector<std::string> args) { run_args_ = std::move(args); }
  // Listen on this port at the next start() (0: any free one).
  void set_port(std::uint16_t port) { fixed_port_ = port; }
  std::uint16_t port() const { return port_; }
  void keep() { keep_ = true; }
  std::string log() const {
    auto bytes = read_file(dir_ + "/server.log");
    return bytes ? std::string(as_string(*bytes)) : std::string();
  }

  const std::string& database() const { return database_; }
  std::string ca_pem() const {
    auto bytes = read_file(data_ + "/ca.pem");
    return bytes ? std::string(as_string(*bytes)) : std::string();
  }

  // Runs `pmos-server ARGS --data DIR [--database ...]`; stdout captured.
  CommandResult cli(const std::string& args) const {
    return run_command(std::string(PMOS_SERVER_BINARY) + " " + args + " --data " + data_ + database_flag() + " 2>>" +
                       dir_ + "/cli.log");
  }
  std::string cli_log() const {
    auto bytes = read_file(dir_ + "/cli.log");
    return bytes ? std::string(as_string(*bytes)) : std::string();
  }

  bool init() { return cli("init").status == 0; }

  bool start() {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return false;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      std::string log_path = dir_ + "/server.log";
      FILE* log = std::fopen(log_path.c_str(), "a");
      if (log != nullptr) ::dup2(::fileno(log), STDERR_FILENO);
      ::close(out[0]);
      std::vector<std::string> args = {PMOS_SERVER_BINARY, "run", "--data", data_, "--listen",
                                        "127.0.0.1:" + std::to_string(fixed_port_)};
      if (!database_.empty()) {
        args.push_back("--database");
        args.push_back(database_);
      }
      args.insert(args.end(), run_args_.begin(), run_args_.end());
      std::vector<char*> argv;
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    stdout_fd_ = out[0];
    // The server prints one line once it listens.
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd fd{stdout_fd_, POLLIN, 0};
      if (::poll(&fd, 1, 200) <= 0) continue;
      char c;
      if (::read(stdout_fd_, &c, 1) != 1) break;
      line += c;
    }
    std::size_t colon = line.rfind(':');
    if (line.find("listening on https://127.0.0.1:") == std::string::npos || colon == std::string::npos) return false;
    port_ = static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
    return true;
  }

  bool running() const {
    if (pid_ <= 0) return false;
    int status;
    return ::waitpid(pid_, &status, WNOHANG) == 0;
  }

  // SIGKILL: no shutdown at all, as in a power cut of the process.
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
    stdout_fd_ = -1;
  }

  // SIGTERM, then the exit status (0 on a clean shutdown).
  int stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
    stdout_fd_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // Everything the relay's database holds, as bytes to search.
  Bytes database_contents() const {
    Bytes out;
    if (database_.empty()) {
      for (const char* name : {"relay.db", "relay.db-wal"}) {
        if (auto bytes = read_file(data_ + "/" + name, 1 << 30)) append(out, *bytes);
      }
    } else {
      CommandResult dump = run_command("pg_dump --data-only '" + database_ + "' 2>/dev/null");
      append(out, as_bytes(dump.out));
    }
    return out;
  }

 private:
  std::string database_flag() const { return database_.empty() ? "" : " --database '" + database_ + "'"; }

  std::string database_;
  std::string dir_;
  std::string data_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::uint16_t port_ = 0;
  std::uint16_t fixed_port_ = 0;
  std::vector<std::string> run_args_;
  bool keep_ = false;
};

// ---- the database of a test

enum class Backend { kSqlite, kPostgres };

// The libpq string of the PostgreSQL the tests use: $PMOS_TEST_POSTGRES, the
// file $PMOS_TEST_POSTGRES_FILE names (the ctest fixture's cluster), or a
// throwaway cluster started on first use and kept until
// release_test_postgres(). Empty for SQLite; nullopt (and `error` says why)
// when none can be had.
inline std::unique_ptr<store::testing::PgThrowaway>& test_postgres_cluster() {
  static std::unique_ptr<store::testing::PgThrowaway> cluster;
  return cluster;
}

inline std::optional<std::string> test_database(Backend backend, std::string& error) {
  if (backend == Backend::kSqlite) return std::string();
  if (const char* given = std::getenv("PMOS_TEST_POSTGRES")) return std::string(given);
  if (const char* file = std::getenv("PMOS_TEST_POSTGRES_FILE")) {
    auto conninfo = read_file(file);
    if (!conninfo) {
      // The store_postgres ctest fixture that writes it lives in libs/store:
      // a ctest started in this directory alone does not run it.
      error = std::string("cannot read ") + file + " (run ctest from the build directory's root, or set PMOS_TEST_POSTGRES)";
      return std::nullopt;
    }
    std::string database(as_string(*conninfo));
    while (!database.empty() && (database.back() == '\n' || database.back() == ' ')) database.pop_back();
    return database;
  }
  auto& cluster = test_postgres_cluster();
  if (!cluster) {
    auto started = store::testing::PgThrowaway::start(PMOS_SOURCE_DIR "/scripts/pg-throwaway");
    if (!started) {
      error = "could not start a throwaway PostgreSQL: " + started.error().to_string();
      return std::nullopt;
    }
    cluster = std::move(*started);
  }
  return cluster->conninfo();
}

inline void release_test_postgres() { test_postgres_cluster().reset(); }

}  // namespace pmos::itest

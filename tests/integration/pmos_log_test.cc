// The transparency log end to end with the real programs (issue 7): a
// `pmos-server log` and a `pmos-server witness` in separate processes, the
// log's checkpoints cosigned by the witness, and `pmos log` verifying them
// from outside. A fork (a second log process with the same key and other
// entries) is refused by the witness and caught by `pmos log` with exit
// status 1.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "pmos/base/file.h"
#include "pmos/tlog/cosignature.h"
#include "pmos/tlogd/client.h"
#include "run_command.h"

namespace pmos {
namespace {

using namespace std::chrono_literals;

using Outcome = itest::CommandResult;

// Runs a command line; stdout captured, stderr to `log`.
Outcome run(const std::string& command, const std::string& log) {
  return itest::run_command(command + " 2>>" + log);
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string read_text(const std::string& path) {
  auto bytes = read_file(path);
  return bytes ? std::string(as_string(*bytes)) : std::string();
}

// One `pmos-server ROLE` process; its port is read from the line it prints.
class Role {
 public:
  Role(std::string data, std::string log) : data_(std::move(data)), log_(std::move(log)) {}
  ~Role() { stop(); }

  bool start(std::vector<std::string> args) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return false;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      FILE* log = std::fopen(log_.c_str(), "a");
      if (log != nullptr) ::dup2(::fileno(log), STDERR_FILENO);
      ::close(out[0]);
      args.insert(args.begin(), PMOS_SERVER_BINARY);
      std::vector<char*> argv;
      for (std::string& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd fd{out[0], POLLIN, 0};
      if (::poll(&fd, 1, 200) <= 0) continue;
      char c;
      if (::read(out[0], &c, 1) != 1) break;
      line += c;
    }
    ::close(out[0]);
    const std::size_t colon = line.rfind(':');
    if (line.find("listening on https://127.0.0.1:") == std::string::npos || colon == std::string::npos) return false;
    port_ = static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
    return true;
  }
  int stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::uint16_t port() const { return port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

 private:
  std::string data_;
  std::string log_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

class PmosLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/pmos-log-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    stderr_ = dir_ + "/stderr.log";
    for (const char* data : {"log", "witness", "fork"})
      ASSERT_EQ(server("init --data " + dir_ + "/" + data).status, 0) << read_text(stderr_);
    log_vkey_ = trim(server("log-key --data " + dir_ + "/log --log-origin itest.example/log").out);
    witness_vkey_ = trim(server("witness-key --data " + dir_ + "/witness --witness-name itest.example/w1").out);
    ASSERT_FALSE(log_vkey_.empty());
    ASSERT_FALSE(witness_vkey_.empty());
  }
  void TearDown() override {
    if (HasFailure()) {
      std::fprintf(stderr, "---- stderr of the programs:\n%s\n", read_text(stderr_).c_str());
    }
    std::filesystem::remove_all(dir_);
  }

  Outcome server(const std::string& args) { return run(std::string(PMOS_SERVER_BINARY) + " " + args, stderr_); }
  // `pmos log COMMAND` against the log at `url` (its CA is the log's).
  Outcome pmos_log(const std::string& command, const std::string& url, const std::string& args,
               const std::string& data = "log") {
    return run(std::string(PMOS_BINARY) + " log " + command + " --url " + url + " --vkey " + log_vkey_ + " --ca " +
                   dir_ + "/" + data + "/ca.pem " + args,
               stderr_);
  }

  std::unique_ptr<Role> start_witness() {
    auto role = std::make_unique<Role>(dir_ + "/witness", stderr_);
    EXPECT_TRUE(role->start({"witness", "--data", dir_ + "/witness", "--listen", "127.0.0.1:0", "--log-vkey",
                             log_vkey_}));
    return role;
  }
  std::unique_ptr<Role> start_log(const std::string& data, const Role& witness, const std::string& quorum) {
    auto role = std::make_unique<Role>(dir_ + "/" + data, stderr_);
    EXPECT_TRUE(role->start({"log", "--data", dir_ + "/" + data, "--listen", "127.0.0.1:0", "--log-origin",
                             "itest.example/log", "--interval-ms", "50", "--witness",
                             witness_vkey_ + "@" + witness.url(), "--witness-ca", dir_ + "/witness/ca.pem",
                             "--witness-quorum", quorum}));
    return role;
  }

  // Appends entries "<prefix><i>" for i in [from, to) through POST /add.
  void append(const Role& log, const std::string& data, const std::string& prefix, int from, int to) {
    net::TlsClientConfig tls;
    tls.ca = net::PemSource::file(dir_ + "/" + data + "/ca.pem");
    auto client = tlogd::LogClient::connect(tls, tlogd::LogUrl{"127.0.0.1", log.port(), ""});
    ASSERT_TRUE(client.has_value()) << client.error().to_string();
    const std::string token = trim(read_text(dir_ + "/" + data + "/log-add-token"));
    for (int i = from; i < to; ++i) {
      auto index = (*client)->add(to_bytes(prefix + std::to_string(i)), token);
      ASSERT_TRUE(index.has_value()) << index.error().to_string();
      EXPECT_EQ(*index, static_cast<std::uint64_t>(i));
    }
  }

  // Waits until the log serves a checkpoint of `size` cosigned by the
  // witness, and returns its note.
  std::string wait_for_cosigned(const Role& log, std::uint64_t size) {
    net::TlsClientConfig tls;
    tls.ca = net::PemSource::file(dir_ + "/log/ca.pem");
    auto client = tlogd::LogClient::connect(tls, tlogd::LogUrl{"127.0.0.1", log.port(), ""});
    if (!client) return {};
    auto log_key = tlog::Ed25519NoteVerifier::from_vkey(log_vkey_).value();
    std::vector<tlog::CosignatureVerifier> witnesses{tlog::CosignatureVerifier::from_vkey(witness_vkey_).value()};
    auto policy = tlog::WitnessPolicy::create(std::move(witnesses), 1).value();
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto note = (*client)->fetch_checkpoint_note();
      if (note) {
        auto opened = tlog::open_witnessed_checkpoint(*note, log_key.name(), log_key, policy);
        if (opened && opened->checkpoint.size == size) return *note;
      }
      std::this_thread::sleep_for(50ms);
    }
    return {};
  }

  std::string dir_;
  std::string stderr_;
  std::string log_vkey_;
  std::string witness_vkey_;
};

TEST_F(PmosLogTest, CosignedLogVerifiesAndAForkIsCaught) {
  auto witness = start_witness();
  auto log = start_log("log", *witness, "1");
  append(*log, "log", "honest entry ", 0, 300);
  const std::string first = wait_for_cosigned(*log, 300);
  ASSERT_FALSE(first.empty()) << "no cosigned checkpoint of size 300";
  ASSERT_TRUE(write_file_atomic(dir_ + "/first.note", as_bytes(first), 0644).has_value());
  const std::string witness_flag = " --witness " + witness_vkey_;

  Outcome shown = pmos_log("show", log->url(), witness_flag);
  EXPECT_EQ(shown.status, 0);
  EXPECT_NE(shown.out.find("size 300\n"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("\xE2\x80\x94 itest.example/w1 "), std::string::npos) << shown.out;

  ASSERT_TRUE(write_file_atomic(dir_ + "/entry", as_bytes(std::string("honest entry 257")), 0644).has_value());
  Outcome included = pmos_log("verify-inclusion", log->url(), "--index 257 --entry " + dir_ + "/entry" + witness_flag);
  EXPECT_EQ(included.status, 0) << included.out;
  EXPECT_NE(included.out.find("OK entry 257"), std::string::npos) << included.out;
  // A tampered claim: the log holds another entry at that index.
  ASSERT_TRUE(write_file_atomic(dir_ + "/wrong", as_bytes(std::string("honest entry 258")), 0644).has_value());
  EXPECT_EQ(pmos_log("verify-inclusion", log->url(), "--index 257 --entry " + dir_ + "/wrong").status, 1);
  EXPECT_EQ(pmos_log("verify-inclusion", log->url(), "--index 300").status, 1);  // not in the tree

  append(*log, "log", "honest entry ", 300, 520);
  ASSERT_FALSE(wait_for_cosigned(*log, 520).empty());
  Outcome consistent = pmos_log("verify-consistency", log->url(), "--old " + dir_ + "/first.note" + witness_flag);
  EXPECT_EQ(consistent.status, 0) << consistent.out;
  EXPECT_NE(consistent.out.find("OK size 520 extends size 300"), std::string::npos) << consistent.out;
  Outcome monitored = pmos_log("monitor", log->url(), "--once --old " + dir_ + "/first.note" + witness_flag);
  EXPECT_EQ(monitored.status, 0) << monitored.out;
  EXPECT_NE(monitored.out.find("OK size 520"), std::string::npos) << monitored.out;

  // The fork: the same log key, another history, submitted to the same
  // witness. It publishes without waiting for cosignatures (quorum 0), as
  // a log hiding from its witnesses would.
  ASSERT_TRUE(std::filesystem::copy_file(dir_ + "/log/log.skey", dir_ + "/fork/log.skey"));
  auto fork = start_log("fork", *witness, "0");
  append(*fork, "fork", "forged entry ", 0, 600);
  // Wait until the fork has signed size 600 and tried the witness.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (pmos_log("show", fork->url(), "", "fork").out.find("size 600\n") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(pmos_log("show", fork->url(), "", "fork").status, 0);  // well signed by the (stolen) key
  // ... but no witness cosigned it, and it does not extend what we saw.
  EXPECT_EQ(pmos_log("show", fork->url(), witness_flag, "fork").status, 1);
  EXPECT_EQ(pmos_log("verify-consistency", fork->url(), "--old " + dir_ + "/first.note", "fork").status, 1);
  EXPECT_EQ(pmos_log("monitor", fork->url(), "--once --old " + dir_ + "/first.note", "fork").status, 1);
  EXPECT_NE(read_text(stderr_).find("witness did not cosign"), std::string::npos);

  // The honest log goes on being cosigned: the witness was not moved.
  append(*log, "log", "honest entry ", 520, 530);
  EXPECT_FALSE(wait_for_cosigned(*log, 530).empty());
  EXPECT_EQ(fork->stop(), 0);
  EXPECT_EQ(log->stop(), 0);
  EXPECT_EQ(witness->stop(), 0);
}

TEST_F(PmosLogTest, RestartedLogServesItsCosignedCheckpointAndKeepsGoing) {
  auto witness = start_witness();
  auto log = start_log("log", *witness, "1");
  append(*log, "log", "entry ", 0, 10);
  const std::string before = wait_for_cosigned(*log, 10);
  ASSERT_FALSE(before.empty());
  EXPECT_EQ(log->stop(), 0);
  witness->stop();
  // The witness restarts from its database; the log resubmits from size 0,
  // learns the witness's size from the 409, and continues.
  witness = start_witness();
  log = start_log("log", *witness, "1");
  append(*log, "log", "entry ", 10, 20);
  ASSERT_FALSE(wait_for_cosigned(*log, 20).empty());
  ASSERT_TRUE(write_file_atomic(dir_ + "/before.note", as_bytes(before), 0644).has_value());
  EXPECT_EQ(pmos_log("verify-consistency", log->url(), "--old " + dir_ + "/before.note --witness " + witness_vkey_).status,
            0);
}

}  // namespace
}  // namespace pmos

// End to end through the real programs: an app built here is packed, signed
// and countersigned with `pmos app`, installed into a running pmosd with
// `pmos app install`, and run with `pmos app run`. Inside its sandbox the app
// asks the broker for two TCP endpoints on 127.0.0.1 served by this test: the
// granted one connects, the other is refused, and `pmos audit show/verify`
// shows both. Then refusals, `pmos sandbox run`, removal and a tampered log.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

namespace {

namespace fs = std::filesystem;

struct Result {
  int exit_code = -1;
  std::string output;
};

Result run(const std::string& program, const std::vector<std::string>& args, uid_t as_uid = 0) {
  Result result;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return result;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    if (as_uid != 0 && (::setgroups(0, nullptr) != 0 || ::setresgid(as_uid, as_uid, as_uid) != 0 ||
                        ::setresuid(as_uid, as_uid, as_uid) != 0))
      ::_exit(126);
    std::vector<char*> argv = {const_cast<char*>(program.c_str())};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0) result.output.append(buffer, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

Result run_as(uid_t uid, const std::string& program, const std::vector<std::string>& args) {
  return run(program, args, uid);
}

// A TCP server on 127.0.0.1 answering each connection with a greeting.
class Greeter {
 public:
  explicit Greeter(std::string greeting) : greeting_(std::move(greeting)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    ::listen(fd_, 8);
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        ++accepted_;
        (void)!::write(c, greeting_.data(), greeting_.size());
        ::close(c);
      }
    });
  }
  ~Greeter() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  std::string greeting_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

constexpr const char* kAppId = "org.pmos.brokertest";

class PmosdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "pmosd-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    // The app's uid walks down to its package and data directories.
    fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    state_ = path("state");
    socket_ = path("pmosd.sock");
  }
  void TearDown() override {
    stop_pmosd();
    fs::remove_all(dir_);
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(dir_ / name) << text; }
  std::string read(const std::string& file) const {
    std::ifstream in(file, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  Result pmos(const std::vector<std::string>& args) { return run(PMOS_BINARY, args); }
  Result device(std::vector<std::string> args) {
    args.insert(args.begin() + 1, {"--socket", socket_});
    args.insert(args.begin(), "app");
    return pmos(args);
  }

  void start_pmosd(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {PMOSD_BINARY, "--state", state_, "--socket", socket_, "--authority",
                                     path("authority.pub"), "--standard", path("standard.json")};
    args.insert(args.end(), extra.begin(), extra.end());
    // Unprivileged, cgroup limits need a delegated cgroup we may not have.
    if (::geteuid() != 0) args.push_back("--best-effort");
    std::string log = path("pmosd.out");
    pmosd_ = ::fork();
    if (pmosd_ == 0) {
      int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(out, 1);
      ::dup2(out, 2);
      std::vector<char*> argv;
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    for (int i = 0; i < 200 && !fs::exists(socket_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(fs::exists(socket_)) << read(log);
    struct stat st {};
    ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "the control socket is for its owner only";
  }
  void stop_pmosd() {
    if (pmosd_ <= 0) return;
    ::kill(pmosd_, SIGTERM);
    int status = 0;
    ::waitpid(pmosd_, &status, 0);
    pmosd_ = -1;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read(path("pmosd.out"));
  }

  // The app tree, its manifest granting `allowed`, and the signed,
  // countersigned package of `version`.
  void build_package(int version, int allowed, int denied, const std::string& out,
                     const std::string& mode = "exit") {
    fs::create_directories(dir_ / "app/bin");
    fs::copy_file(PMOSD_TEST_APP, dir_ / "app/bin/client", fs::copy_options::overwrite_existing);
    fs::permissions(dir_ / "app/bin/client", fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                                 fs::perms::others_read | fs::perms::others_exec);
    write("app/endpoints.txt",
          "127.0.0.1 " + std::to_string(allowed) + " " + std::to_string(denied) + " " + mode + "\n");
    write("manifest.json", std::string(R"({"app_id": ")") + kAppId + R"(", "version_code": )" +
                               std::to_string(version) + R"(, "version_name": "1.)" + std::to_string(version) +
                               R"(", "developer": "PMOS tests", "entry_point": "bin/client",
                               "category": "utility", "permissions": {"network": ["127.0.0.1:)" +
                               std::to_string(allowed) + R"("], "capabilities": ["notifications"]}})");
    Result r = pmos({"app", "pack", "--dir", path("app"), "--manifest", path("manifest.json"), "--out", out});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = pmos({"app", "sign", "--key", path("dev.key"), "--in", out, "--out", out});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = pmos({"app", "countersign", "--key", path("authority.key"), "--standard", path("standard.json"), "--in", out,
              "--out", out});
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }

  fs::path dir_;
  std::string state_, socket_;
  pid_t pmosd_ = -1;
};

// The test app is a debug build without the standard's hardening flags, so
// this standard switches the ELF rules off; everything else is as on a phone.
constexpr const char* kStandard = R"({
  "pmos_app_standard": 1, "version": 1,
  "categories": {"utility": {"capabilities": ["notifications"], "network": true}},
  "allowed_endpoints": ["127.0.0.1:*"],
  "hardening": {"pie": false, "full_relro": false, "nx_stack": false, "stack_protector": false, "fortify": false},
  "limits": {"max_total_bytes": 200000000, "max_file_bytes": 100000000, "max_files": 100}
})";

TEST_F(PmosdTest, InstallRunBrokerAudit) {
  write("standard.json", kStandard);
  ASSERT_EQ(pmos({"app", "keygen", "--out", path("dev")}).exit_code, 0);
  ASSERT_EQ(pmos({"app", "keygen", "--out", path("authority")}).exit_code, 0);
  Greeter allowed("hello from outside"), denied("you should not see this");
  build_package(1, allowed.port(), denied.port(), path("app.pkg"));
  // Every sandbox made at `run` (PreparedLaunches covers the other way).
  start_pmosd({"--no-prepare"});

  Result r = device({"install", path("app.pkg")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("installed org.pmos.brokertest version 1"), std::string::npos) << r.output;
  r = device({"list"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("org.pmos.brokertest  version 1 (1.1)"), std::string::npos) << r.output;

  if (::geteuid() == 0) {
    // Even with the socket opened up by mistake, another user is refused.
    ASSERT_EQ(::chmod(socket_.c_str(), 0666), 0);
    Result other = run_as(65534, PMOS_BINARY, {"app", "list", "--socket", socket_});
    EXPECT_EQ(other.exit_code, 1) << other.output;
    EXPECT_NE(other.output.find("not pmosd's user"), std::string::npos) << other.output;
    ASSERT_EQ(::chmod(socket_.c_str(), 0600), 0);
  }

  r = device({"run", kAppId});
  EXPECT_EQ(r.exit_code, 0) << r.output << "\nlogs:\n" << device({"logs", kAppId}).output;
  EXPECT_NE(r.output.find("exited with code 0"), std::string::npos) << r.output;
  EXPECT_EQ(allowed.accepted(), 1);
  EXPECT_EQ(denied.accepted(), 0) << "the refused endpoint was reached";

  r = device({"logs", kAppId});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* line : {"allowed: hello from outside", "denied: endpoint not granted", "direct: failed",
                           "notify: delivered"})
    EXPECT_NE(r.output.find(line), std::string::npos) << line << "\n" << r.output;

  // The audit log, read and verified offline.
  r = pmos({"audit", "show", "--state", state_});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string granted = "connect 127.0.0.1:" + std::to_string(allowed.port()) + " granted by 127.0.0.1:" +
                        std::to_string(allowed.port()) + ", connected to 127.0.0.1:" + std::to_string(allowed.port());
  std::string refused = "connect 127.0.0.1:" + std::to_string(denied.port()) + " refused: not a granted endpoint";
  for (const std::string& expected : {std::string("pmosd started: sandbox policy "), std::string("install "),
                                      std::string("launch "), granted, refused,
                                      std::string("notification: pmosd test"), std::string("exited with code 0"),
                                      std::string("OK: ")})
    EXPECT_NE(r.output.find(expected), std::string::npos) << expected << "\n" << r.output;
  r = pmos({"audit", "verify", "--state", state_});
  EXPECT_EQ(r.exit_code, 0) << r.output;

  // Refusals through the daemon: a replay of the same version, a tampered package.
  r = device({"install", path("app.pkg")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("does not grow"), std::string::npos) << r.output;
  std::string bytes = read(path("app.pkg"));
  bytes[bytes.size() / 3] ^= 0x10;
  std::ofstream(path("tampered.pkg"), std::ios::binary) << bytes;
  r = device({"install", path("tampered.pkg")});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  r = device({"run", "org.pmos.notinstalled"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("not installed"), std::string::npos) << r.output;

  // An update keeps working and is audited as one.
  build_package(2, allowed.port(), denied.port(), path("app2.pkg"));
  r = device({"install", path("app2.pkg")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("from version 1 to 2"), std::string::npos) << r.output;

  // A running app is neither updated nor removed; `stop` kills it.
  build_package(3, allowed.port(), denied.port(), path("app3.pkg"), "linger");
  ASSERT_EQ(device({"install", path("app3.pkg")}).exit_code, 0);
  Result run_result;
  std::thread runner([&] { run_result = device({"run", kAppId}); });
  bool running = false;
  for (int i = 0; i < 200 && !running; ++i) {
    running = device({"logs", kAppId}).output.find("lingering") != std::string::npos;
    if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(running);
  EXPECT_NE(device({"list"}).output.find("running"), std::string::npos);
  r = device({"run", kAppId});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("already running"), std::string::npos) << r.output;
  build_package(4, allowed.port(), denied.port(), path("app4.pkg"));
  r = device({"install", path("app4.pkg")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("the app is running"), std::string::npos) << r.output;
  r = device({"remove", kAppId});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("the app is running"), std::string::npos) << r.output;
  r = device({"stop", kAppId});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  runner.join();
  EXPECT_EQ(run_result.exit_code, 128 + SIGKILL) << run_result.output;
  EXPECT_NE(run_result.output.find("killed by signal 9"), std::string::npos) << run_result.output;
  r = device({"stop", kAppId});
  EXPECT_EQ(r.exit_code, 1);
  ASSERT_EQ(device({"install", path("app4.pkg")}).exit_code, 0);

  // `pmos sandbox run`: the same app, the same broker decisions, no pmosd.
  std::vector<std::string> sandbox_args = {"sandbox", "run", "--manifest", path("manifest.json"), "--standard",
                                           path("standard.json"), "--package", path("app"), "--audit-dir",
                                           path("sandbox-audit")};
  if (::geteuid() != 0) sandbox_args.push_back("--best-effort");
  sandbox_args.insert(sandbox_args.end(), {"--", "/app/bin/client"});
  r = pmos(sandbox_args);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("denied: endpoint not granted"), std::string::npos) << r.output;
  r = pmos({"audit", "verify", "--state", path("sandbox-audit")});
  EXPECT_EQ(r.exit_code, 0) << r.output;

  r = device({"remove", kAppId});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = device({"list"});
  EXPECT_EQ(r.output.find(kAppId), std::string::npos) << r.output;
  stop_pmosd();

  // Someone edits the log on disk: verify says so, and pmosd refuses to
  // append to it.
  std::string log = read(state_ + "/audit.log");
  std::size_t at = log.find("refused: not a granted endpoint");
  ASSERT_NE(at, std::string::npos);
  log.replace(at, 7, "granted");
  std::ofstream(state_ + "/audit.log", std::ios::binary | std::ios::trunc) << log;
  r = pmos({"audit", "verify", "--state", state_});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("FAILED at entry"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("altered or inserted"), std::string::npos) << r.output;
  r = run(PMOSD_BINARY, {"--state", state_, "--socket", socket_, "--authority", path("authority.pub"), "--standard",
                         path("standard.json")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("audit"), std::string::npos) << r.output;
}

// Sandboxes made ahead of time: `run` starts the prepared one, an update or a
// removal drops it, and the next run gets the new version.
TEST_F(PmosdTest, PreparedLaunches) {
  write("standard.json", kStandard);
  ASSERT_EQ(pmos({"app", "keygen", "--out", path("dev")}).exit_code, 0);
  ASSERT_EQ(pmos({"app", "keygen", "--out", path("authority")}).exit_code, 0);
  Greeter first("version one's endpoint"), second("version two's endpoint"), denied("you should not see this");
  build_package(1, first.port(), denied.port(), path("app.pkg"));
  start_pmosd();
  ASSERT_EQ(device({"install", path("app.pkg")}).exit_code, 0);
  auto wait_prepared = [&]() {
    for (int i = 0; i < 200; ++i) {
      if (device({"list"}).output.find("  prepared") != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  ASSERT_TRUE(wait_prepared()) << read(path("pmosd.out"));

  for (int round = 1; round <= 2; ++round) {
    Result r = device({"run", kAppId});
    EXPECT_EQ(r.exit_code, 0) << r.output << "\nlogs:\n" << device({"logs", kAppId}).output;
    EXPECT_EQ(first.accepted(), round);
    // Made again once the run was answered.
    EXPECT_TRUE(wait_prepared());
  }
  EXPECT_EQ(denied.accepted(), 0);

  // An update drops the sandbox of version 1 (it would show version 1's files).
  build_package(2, second.port(), denied.port(), path("app2.pkg"));
  ASSERT_EQ(device({"install", path("app2.pkg")}).exit_code, 0);
  ASSERT_TRUE(wait_prepared());
  Result r = device({"run", kAppId});
  EXPECT_EQ(r.exit_code, 0) << r.output << "\nlogs:\n" << device({"logs", kAppId}).output;
  EXPECT_EQ(second.accepted(), 1) << "version 2 did not run";
  EXPECT_EQ(first.accepted(), 2) << "version 1 ran after the update";

  r = pmos({"audit", "show", "--state", state_});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::size_t prepared_launches = 0;
  for (std::size_t at = r.output.find("(prepared)"); at != std::string::npos; at = r.output.find("(prepared)", at + 1))
    ++prepared_launches;
  EXPECT_EQ(prepared_launches, 3u) << r.output;
  EXPECT_NE(r.output.find("version 2, reaper pid"), std::string::npos) << r.output;

  // A removal drops it too: the app's user has no process left.
  ASSERT_TRUE(wait_prepared());
  std::string listed = device({"list"}).output;
  std::size_t uid_at = listed.find("  uid ");
  ASSERT_NE(uid_at, std::string::npos) << listed;
  std::string uid = listed.substr(uid_at + 6, listed.find(' ', uid_at + 6) - uid_at - 6);
  // pmosd's children running as the app's user (another pmosd on this
  // machine may hand out the same uids).
  auto processes_of_app_user = [&] {
    int count = 0;
    for (const auto& entry : fs::directory_iterator("/proc")) {
      std::ifstream status(entry.path() / "status");
      std::string line;
      bool ours = false, app_user = false;
      while (std::getline(status, line)) {
        if (line.rfind("PPid:", 0) == 0) ours = line == "PPid:\t" + std::to_string(pmosd_);
        if (line.rfind("Uid:", 0) == 0) app_user = line.find("\t" + uid + "\t") != std::string::npos;
      }
      count += ours && app_user;
    }
    return count;
  };
  bool own_uid = ::geteuid() == 0;  // per-app host uids only when pmosd is root
  if (own_uid) {
    EXPECT_EQ(processes_of_app_user(), 1) << "the parked reaper, uid " << uid;
  }
  ASSERT_EQ(device({"remove", kAppId}).exit_code, 0);
  if (own_uid) {
    EXPECT_EQ(processes_of_app_user(), 0);
  }
  EXPECT_EQ(device({"list"}).output.find(kAppId), std::string::npos);
  EXPECT_EQ(pmos({"audit", "verify", "--state", state_}).exit_code, 0);
  stop_pmosd();
}

// The signed head is rewritten off the launch path (docs/device.md, "Prepared
// launches"): once after a short run's answer, and while an app keeps running
// within pmosd's kHeadDelay (100 ms) of its start. The runs go through
// pmos-launch, the client without a C library.
TEST_F(PmosdTest, TheHeadFollowsEachRunAndPmosLaunchRunsApps) {
  write("standard.json", kStandard);
  ASSERT_EQ(pmos({"app", "keygen", "--out", path("dev")}).exit_code, 0);
  ASSERT_EQ(pmos({"app", "keygen", "--out", path("authority")}).exit_code, 0);
  Greeter allowed("welcome"), denied("you should not see this");
  build_package(1, allowed.port(), denied.port(), path("app.pkg"));
  start_pmosd();
  ASSERT_EQ(device({"install", path("app.pkg")}).exit_code, 0);
  auto launch = [&](const std::vector<std::string>& args) { return run(PMOS_LAUNCH_BINARY, args); };
  // Every entry is under the signed head (none "after the head"), within 2 s.
  auto head_covers_the_log = [&] {
    Result verified;
    for (int i = 0; i < 100; ++i) {
      verified = pmos({"audit", "verify", "--state", state_});
      if (verified.exit_code == 0 && verified.output.find("after the head") == std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << verified.output;
    return false;
  };

  Result r = launch({"--socket", socket_, kAppId});
  EXPECT_EQ(r.exit_code, 0) << r.output << "\nlogs:\n" << device({"logs", kAppId}).output;
  EXPECT_EQ(allowed.accepted(), 1);
  EXPECT_EQ(denied.accepted(), 0);
  EXPECT_TRUE(head_covers_the_log());
  r = pmos({"audit", "show", "--state", state_});
  EXPECT_NE(r.output.find("exited with code 0"), std::string::npos) << r.output;

  r = launch({"--socket", socket_, "org.not.installed"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("pmos-launch: run: not found: app is not installed"), std::string::npos) << r.output;
  r = launch({"--socket", path("no.sock"), kAppId});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("cannot talk to pmosd at " + path("no.sock") + ": connect: No such file"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(launch({}).exit_code, 2);
  EXPECT_EQ(launch({"--socket", socket_, kAppId, "extra"}).exit_code, 2);
  EXPECT_EQ(launch({"--socket", socket_, std::string(129, 'a')}).exit_code, 2);

  // An app that keeps running (and asks the broker nothing, whose entries
  // would move the head): its launch entry comes under the head while it runs.
  build_package(2, allowed.port(), denied.port(), path("app2.pkg"), "sleep");
  ASSERT_EQ(device({"install", path("app2.pkg")}).exit_code, 0);
  Result run_result;
  std::thread runner([&] { run_result = launch({"--socket", socket_, kAppId}); });
  bool running = false;
  for (int i = 0; i < 200 && !running; ++i) {
    running = device({"logs", kAppId}).output.find("sleeping") != std::string::npos;
    if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(running);
  EXPECT_TRUE(head_covers_the_log());
  EXPECT_NE(device({"list"}).output.find("running"), std::string::npos);
  EXPECT_EQ(device({"stop", kAppId}).exit_code, 0);
  runner.join();
  EXPECT_EQ(run_result.exit_code, 128 + SIGKILL) << run_result.output;
  EXPECT_TRUE(head_covers_the_log());
  stop_pmosd();
}

// `run` is answered as soon as the app's main process has exited (and the
// exit is in the log); the rest of its tree (here a child it left behind)
// dies with the sandbox's reaper a moment later. Until then the app still
// counts as running: a run, update or removal right after the answer waits
// for the tree to be gone instead of failing or overlapping it.
TEST_F(PmosdTest, RunAnswersAtTheAppsExitAndTheTreeGoesFirst) {
  write("standard.json", kStandard);
  ASSERT_EQ(pmos({"app", "keygen", "--out", path("dev")}).exit_code, 0);
  ASSERT_EQ(pmos({"app", "keygen", "--out", path("authority")}).exit_code, 0);
  Greeter allowed("hello"), denied("you should not see this");
  build_package(1, allowed.port(), denied.port(), path("app.pkg"), "orphan");
  start_pmosd();
  // Processes of the app's host uid descended from pmosd (the orphan is a
  // grandchild of the reaper's): none may outlive the app's sandbox.
  auto app_processes = [&](const std::string& uid) {
    std::map<pid_t, pid_t> parent;
    std::vector<pid_t> of_uid;
    for (const auto& entry : fs::directory_iterator("/proc")) {
      std::ifstream status(entry.path() / "status");
      std::string line;
      pid_t pid = 0, ppid = 0;
      bool app_user = false;
      while (std::getline(status, line)) {
        if (line.rfind("Pid:", 0) == 0) pid = std::atoi(line.c_str() + 4);
        if (line.rfind("PPid:", 0) == 0) ppid = std::atoi(line.c_str() + 5);
        if (line.rfind("Uid:", 0) == 0) app_user = line.find("\t" + uid + "\t") != std::string::npos;
      }
      if (pid <= 0) continue;
      parent[pid] = ppid;
      if (app_user) of_uid.push_back(pid);
    }
    int count = 0;
    for (pid_t pid : of_uid) {
      for (pid_t p = pid; p > 1 && parent.contains(p); p = parent[p])
        if (parent[p] == pmosd_) {
          ++count;
          break;
        }
    }
    return count;
  };
  // The control protocol by hand (docs/device.md), so that the next request
  // follows the answer by microseconds, not by the start of a `pmos` process:
  // a connection made in advance, then one frame.
  auto connect_control = [&] {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket_.c_str(), sizeof address.sun_path - 1);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    return fd;
  };
  // Sends `op` for the app; returns the answer's status (1 ok) and text.
  auto call = [&](int fd, std::uint8_t op) -> std::pair<int, std::string> {
    std::string body = {static_cast<char>(op), static_cast<char>(std::strlen(kAppId))};
    body += kAppId;
    std::string frame = {0, 0, 0, static_cast<char>(body.size())};
    frame += body;
    EXPECT_EQ(::write(fd, frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
    // One frame (pmosd holds the connection open until the run is over).
    auto read_exactly = [&](std::size_t size) {
      std::string bytes(size, '\0');
      std::size_t got = 0;
      for (ssize_t n; got < size && (n = ::read(fd, bytes.data() + got, size - got)) > 0;)
        got += static_cast<std::size_t>(n);
      bytes.resize(got);
      return bytes;
    };
    std::string length = read_exactly(4);
    std::size_t size = length.size() == 4 ? (static_cast<unsigned char>(length[2]) << 8 | static_cast<unsigned char>(length[3])) : 0;
    std::string answer = read_exactly(size);
    ::close(fd);
    if (answer.empty()) return {-1, ""};
    return {static_cast<unsigned char>(answer[0]), answer.substr(1)};
  };
  bool own_uid = ::geteuid() == 0;  // per-app host uids only when pmosd is root
  ASSERT_EQ(device({"install", path("app.pkg")}).exit_code, 0);
  for (int i = 0; i < 20; ++i) {
    int first = connect_control(), second = connect_control();
    auto [status, text] = call(first, 4);
    ASSERT_EQ(status, 1) << text;
    // Run again the moment the answer is in: waits for the tree, then runs.
    std::tie(status, text) = call(second, 4);
    ASSERT_EQ(status, 1) << text;
  }
  ASSERT_EQ(call(connect_control(), 2).first, 1);  // remove
  EXPECT_EQ(allowed.accepted(), 40);
  int exits = 40;
  for (int round = 1; round <= 3; ++round) {
    ASSERT_EQ(device({"install", path("app.pkg")}).exit_code, 0);
    std::string listed = device({"list"}).output;
    std::size_t uid_at = listed.find("  uid ");
    ASSERT_NE(uid_at, std::string::npos) << listed;
    std::string uid = listed.substr(uid_at + 6, listed.find(' ', uid_at + 6) - uid_at - 6);
    for (int run = 0; run < 2; ++run) {
      Result r = device({"run", kAppId});
      ASSERT_EQ(r.exit_code, 0) << r.output << "\nlogs:\n" << device({"logs", kAppId}).output;
      ++exits;
      // The exit entry was written before the answer.
      Result shown = pmos({"audit", "show", "--state", state_});
      std::size_t logged = 0;
      for (std::size_t at = shown.output.find("exited with code 0"); at != std::string::npos;
           at = shown.output.find("exited with code 0", at + 1))
        ++logged;
      EXPECT_EQ(logged, static_cast<std::size_t>(exits)) << shown.output;
    }
    // Removed right after the answer: pmosd waits for the tree, then removes.
    Result removed = device({"remove", kAppId});
    ASSERT_EQ(removed.exit_code, 0) << removed.output;
    if (own_uid) {
      EXPECT_EQ(app_processes(uid), 0) << "uid " << uid;
    }
  }
  EXPECT_EQ(allowed.accepted(), exits);
  EXPECT_EQ(pmos({"audit", "verify", "--state", state_}).exit_code, 0);
  stop_pmosd();
}

}  // namespace

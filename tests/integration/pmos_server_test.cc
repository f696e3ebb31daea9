// Drives the real pmos-server process over real TLS: init, enrollment
// tokens, enrollment with a CSR, and the relay protocol (proto/relay.proto)
// with device certificates from that enrollment. Every test runs on SQLite
// and on PostgreSQL (a throwaway cluster from scripts/pg-throwaway).
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "pg_throwaway.h"
#include "pmos/base/file.h"
#include "pmos/base/openssl_ptr.h"
#include "pmos/crypto/cipher_suite.h"
#include "pmos/mls/mls_message.h"
#include "pmos/mls/state.h"
#include "pmos/net/client.h"
#include "relay.pb.h"

namespace pmos {
namespace {

namespace pb = ::pmos::relay::v1;
using namespace std::chrono_literals;

// ---- the server process

struct CommandResult {
  int status = -1;
  std::string out;
};

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
  std::uint16_t port() const { return port_; }
  void keep() { keep_ = true; }
  std::string log() const {
    auto bytes = read_file(dir_ + "/server.log");
    return bytes ? std::string(as_string(*bytes)) : std::string();
  }

  // Runs `pmos-server ARGS --data DIR [--database ...]`; stdout captured.
  CommandResult cli(const std::string& args) const {
    std::string command = std::string(PMOS_SERVER_BINARY) + " " + args + " --data " + data_ + database_flag() +
                          " 2>>" + dir_ + "/cli.log";
    CommandResult result;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return result;
    char buffer[4096];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.out.append(buffer, n);
    int status = ::pclose(pipe);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
  }
  std::string cli_log() const {
    auto bytes = read_file(dir_ + "/cli.log");
    return bytes ? std::string(as_string(*bytes)) : std::string();
  }

  bool init() { return cli("init").status == 0; }

  bool start() {
    int out[2];
    if (::pipe(out) != 0) return false;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      std::string log_path = dir_ + "/server.log";
      FILE* log = std::fopen(log_path.c_str(), "a");
      if (log != nullptr) ::dup2(::fileno(log), STDERR_FILENO);
      ::close(out[0]);
      std::vector<std::string> args = {PMOS_SERVER_BINARY, "run", "--data", data_, "--listen", "127.0.0.1:0"};
      if (!database_.empty()) {
        args.push_back("--database");
        args.push_back(database_);
      }
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

 private:
  std::string database_flag() const { return database_.empty() ? "" : " --database '" + database_ + "'"; }

  std::string database_;
  std::string dir_;
  std::string data_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::uint16_t port_ = 0;
  bool keep_ = false;
};

// ---- devices

struct KeyAndCsr {
  std::string key_pem;
  std::string csr_pem;
};

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(length));
}

KeyAndCsr make_key_and_csr() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  X509ReqPtr req(X509_REQ_new());
  X509_REQ_set_pubkey(req.get(), key.get());
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("i-choose-my-name"), -1, -1, 0);
  X509_REQ_sign(req.get(), key.get(), EVP_sha256());
  BIO* key_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(key_bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  BIO* req_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(req_bio, req.get());
  KeyAndCsr out{bio_string(key_bio), bio_string(req_bio)};
  BIO_free(key_bio);
  BIO_free(req_bio);
  return out;
}

struct Device {
  std::string id;
  std::string user;
  std::string key_pem;
  std::string cert_pem;
  std::string ca_pem;

  net::TlsClientConfig tls() const {
    net::TlsClientConfig config;
    config.ca = net::PemSource::memory(ca_pem);
    config.certificate_chain = net::PemSource::memory(cert_pem);
    config.private_key = net::PemSource::memory(key_pem);
    return config;
  }
};

std::string ca_pem_of(const ServerProcess& server) {
  auto bytes = read_file(server.data() + "/ca.pem");
  return bytes ? std::string(as_string(*bytes)) : std::string();
}

net::TlsClientConfig anonymous_tls(const ServerProcess& server) {
  net::TlsClientConfig config;
  config.ca = net::PemSource::memory(ca_pem_of(server));
  return config;
}

// POST /v1/enroll; the response.
net::Response enroll_request(const ServerProcess& server, const std::string& token, const std::string& csr) {
  auto client = net::HttpsClient::connect(anonymous_tls(server), "127.0.0.1", server.port(), 10s);
  if (!client) return net::Response::error(599, "connect failed");
  nlohmann::json body = {{"token", token}, {"csr", csr}};
  auto response = (*client)->request(net::Method::kPost, "/v1/enroll", body.dump());
  if (!response) return net::Response::error(599, "request failed");
  return *response;
}

// ---- MLS messages (the relay reads only headers; bodies are opaque)

Bytes private_message(const Bytes& group_id, std::uint64_t epoch, mls::ContentType type, const std::string& text) {
  mls::PrivateMessage message;
  message.group_id = group_id;
  message.epoch = epoch;
  message.content_type = type;
  message.encrypted_sender_data = Bytes(16, 0xAB);
  message.ciphertext = to_bytes(text);
  return tls::encode(mls::MlsMessage{mls::ProtocolVersion::kMls10, message});
}

Bytes welcome_message(const std::string& text) {
  mls::Welcome welcome;
  welcome.cipher_suite = static_cast<mls::CipherSuiteId>(1);
  welcome.encrypted_group_info = to_bytes(text);
  return tls::encode(mls::MlsMessage{mls::ProtocolVersion::kMls10, welcome});
}

Bytes key_package(const std::string& name) {
  static const crypto::CipherSuite suite = crypto::CipherSuite::from_id(1).value();
  auto signer = suite.signature().generate().value();
  auto bundle =
      mls::KeyPackageBundle::create(suite, mls::Credential{mls::BasicCredential{to_bytes(name)}}, std::move(signer));
  return tls::encode(mls::MlsMessage{mls::ProtocolVersion::kMls10, bundle.value().key_package});
}

std::string str(const Bytes& bytes) { return std::string(as_string(bytes)); }

// ---- the relay client

class RelayClient {
 public:
  static std::unique_ptr<RelayClient> connect(const Device& device, std::uint16_t port) {
    auto ws = net::WebSocketClient::connect(device.tls(), "127.0.0.1", port, "/v1/relay", 10s);
    if (!ws) return nullptr;
    return std::unique_ptr<RelayClient>(new RelayClient(std::move(*ws)));
  }

  bool send_frame(pb::ClientFrame frame) {
    std::string bytes = frame.SerializeAsString();
    return ws_->send(as_bytes(bytes)).has_value();
  }

  // Sends `frame` and waits for its response; deliveries meanwhile are kept.
  pb::Response call(pb::ClientFrame frame, std::chrono::milliseconds timeout = 15s) {
    frame.set_request_id(++next_request_id_);
    std::uint64_t id = frame.request_id();
    if (!send_frame(std::move(frame))) return failed("send failed");
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto found = responses_.find(id);
      if (found != responses_.end()) {
        pb::Response response = found->second;
        responses_.erase(found);
        return response;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms || !read_one(left)) return failed("no response");
    }
  }

  std::optional<pb::Delivery> next_delivery(std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (deliveries_.empty()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms || !read_one(left)) return std::nullopt;
    }
    pb::Delivery delivery = deliveries_.front();
    deliveries_.erase(deliveries_.begin());
    return delivery;
  }

  void ack(std::int64_t up_to) {
    pb::ClientFrame frame;
    frame.mutable_ack()->set_up_to_seq(up_to);
    send_frame(std::move(frame));
  }

  // Reads until the server closes (or `timeout`); the close code, or 0.
  int wait_for_close(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return 0;
      auto message = ws_->receive(left);
      if (!message) {
        auto info = ws_->close_info();
        return info ? info->code : (message.error().errno_code() == ETIMEDOUT ? 0 : 1006);
      }
    }
  }

  net::WebSocketClient& ws() { return *ws_; }

  pb::Response send_message(const Bytes& group, std::uint64_t epoch, const std::string& client_id,
                            const std::string& text) {
    pb::ClientFrame frame;
    frame.mutable_send_message()->set_client_message_id(client_id);
    frame.mutable_send_message()->set_message(str(private_message(group, epoch, mls::ContentType::kApplication, text)));
    return call(std::move(frame));
  }

  pb::Response create_group(const Bytes& group, const std::vector<std::string>& members) {
    pb::ClientFrame frame;
    frame.mutable_create_group()->set_group_id(str(group));
    for (const auto& member : members) frame.mutable_create_group()->add_member_devices(member);
    return call(std::move(frame));
  }

 private:
  explicit RelayClient(std::unique_ptr<net::WebSocketClient> ws) : ws_(std::move(ws)) {}

  static pb::Response failed(const std::string& why) {
    pb::Response response;
    response.set_status(pb::STATUS_UNSPECIFIED);
    response.set_error("client: " + why);
    return response;
  }

  bool read_one(std::chrono::milliseconds timeout) {
    auto message = ws_->receive(timeout);
    if (!message) return false;
    pb::ServerFrame frame;
    if (!frame.ParseFromArray(message->data(), static_cast<int>(message->size()))) return false;
    if (frame.has_response()) responses_[frame.response().request_id()] = frame.response();
    if (frame.has_delivery()) deliveries_.push_back(frame.delivery());
    return true;
  }

  std::unique_ptr<net::WebSocketClient> ws_;
  std::uint64_t next_request_id_ = 0;
  std::map<std::uint64_t, pb::Response> responses_;
  std::vector<pb::Delivery> deliveries_;
};

// ---- fixture: one server per back end for the whole program

enum class Backend { kSqlite, kPostgres };

std::unique_ptr<store::testing::PgThrowaway>& postgres() {
  static std::unique_ptr<store::testing::PgThrowaway> cluster;
  return cluster;
}

class PmosServer : public ::testing::TestWithParam<Backend> {
 protected:
  static std::map<Backend, std::unique_ptr<ServerProcess>>& servers() {
    static std::map<Backend, std::unique_ptr<ServerProcess>> map;
    return map;
  }
  static void TearDownTestSuite() {
    for (auto& [backend, server] : servers()) EXPECT_EQ(server->stop(), 0) << "unclean shutdown";
    servers().clear();
    postgres().reset();
  }

  void SetUp() override {
    auto& slot = servers()[GetParam()];
    if (!slot) {
      std::string database;
      if (GetParam() == Backend::kPostgres) {
        if (const char* given = std::getenv("PMOS_TEST_POSTGRES")) {
          database = given;
        } else if (const char* file = std::getenv("PMOS_TEST_POSTGRES_FILE")) {
          // The cluster of the ctest fixture (libs/store's store_postgres).
          auto conninfo = read_file(file);
          ASSERT_TRUE(conninfo.has_value()) << "cannot read " << file;
          database = std::string(as_string(*conninfo));
          while (!database.empty() && (database.back() == '\n' || database.back() == ' ')) database.pop_back();
        } else {
          if (!postgres()) {
            auto cluster = store::testing::PgThrowaway::start(PMOS_SOURCE_DIR "/scripts/pg-throwaway");
            ASSERT_TRUE(cluster.has_value()) << "could not start a throwaway PostgreSQL";
            postgres() = std::move(*cluster);
          }
          database = postgres()->conninfo();
        }
      }
      auto server = std::make_unique<ServerProcess>(database);
      ASSERT_TRUE(server->init()) << server->cli_log();
      ASSERT_TRUE(server->start()) << server->log();
      slot = std::move(server);
    }
    server_ = slot.get();
    ASSERT_TRUE(server_->running()) << server_->log();
  }
  void TearDown() override {
    if (HasFailure()) {
      server_->keep();
      std::fprintf(stderr, "server log:\n%s\n", server_->log().c_str());
    }
  }

  // User ids made unique per test process: under ctest every test is a
  // process of its own, and the PostgreSQL ones share one database.
  static std::string user_name(const std::string& base) { return base + "-" + std::to_string(::getpid()); }

  std::string token(const std::string& user, const std::string& ttl = "1h") {
    CommandResult result = server_->cli("enroll-token --user " + user_name(user) + " --ttl " + ttl);
    EXPECT_EQ(result.status, 0) << server_->cli_log();
    while (!result.out.empty() && result.out.back() == '\n') result.out.pop_back();
    return result.out;
  }

  Device enroll(const std::string& user) {
    KeyAndCsr key = make_key_and_csr();
    net::Response response = enroll_request(*server_, token(user), key.csr_pem);
    EXPECT_EQ(response.status, 200) << response.body;
    auto body = nlohmann::json::parse(response.body, nullptr, false);
    Device device;
    if (response.status != 200 || body.is_discarded()) return device;
    device.id = body["device_id"];
    device.user = user_name(user);
    device.key_pem = key.key_pem;
    device.cert_pem = body["certificate"];
    device.ca_pem = body["ca"];
    return device;
  }

  std::unique_ptr<RelayClient> connect(const Device& device) {
    auto client = RelayClient::connect(device, server_->port());
    EXPECT_TRUE(client) << "relay connect failed for " << device.id;
    return client;
  }

  static Bytes unique_group(const std::string& name) {
    static std::atomic<int> counter{0};
    return to_bytes(name + "-" + std::to_string(counter++) + "-" + std::to_string(::getpid()));
  }

  ServerProcess* server_ = nullptr;
};

// ---- init and enrollment

TEST_P(PmosServer, InitRefusesToOverwrite) {
  CommandResult again = server_->cli("init");
  EXPECT_NE(again.status, 0);
  EXPECT_NE(server_->cli_log().find("refusing to overwrite"), std::string::npos);
}

TEST_P(PmosServer, EnrollmentIssuesACertificateNamingDeviceAndUser) {
  KeyAndCsr key = make_key_and_csr();
  std::string one_time = token("alice");
  ASSERT_EQ(one_time.size(), 64u);
  net::Response response = enroll_request(*server_, one_time, key.csr_pem);
  ASSERT_EQ(response.status, 200) << response.body;
  auto body = nlohmann::json::parse(response.body);
  std::string device_id = body["device_id"];
  EXPECT_EQ(body["user_id"], user_name("alice"));
  EXPECT_EQ(body["ca"], ca_pem_of(*server_));
  std::string cert_pem = body["certificate"];
  BIO* bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509Ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  ASSERT_TRUE(cert);
  auto peer = net::PeerCertificate::from_x509(cert.get());
  ASSERT_TRUE(peer.has_value());
  // The CSR asked for CN=i-choose-my-name: the CA ignores it.
  EXPECT_EQ(peer->common_name, device_id);
  ASSERT_EQ(peer->organizational_units.size(), 1u);
  EXPECT_EQ(peer->organizational_units[0], user_name("alice"));

  // The same token again: refused, with a clear error.
  net::Response again = enroll_request(*server_, one_time, make_key_and_csr().csr_pem);
  EXPECT_EQ(again.status, 403);
  EXPECT_EQ(nlohmann::json::parse(again.body)["code"], "token_used") << again.body;
  net::Response unknown = enroll_request(*server_, std::string(64, 'a'), key.csr_pem);
  EXPECT_EQ(unknown.status, 403);
  EXPECT_EQ(nlohmann::json::parse(unknown.body)["code"], "unknown_token") << unknown.body;
}

TEST_P(PmosServer, ExpiredTokenAndBadCsrAreRefused) {
  std::string short_lived = token("bob", "1s");
  std::string fresh = token("bob");
  // A broken CSR does not burn the token.
  net::Response bad = enroll_request(*server_, fresh, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(nlohmann::json::parse(bad.body)["code"], "bad_csr") << bad.body;
  EXPECT_EQ(enroll_request(*server_, fresh, make_key_and_csr().csr_pem).status, 200);

  std::this_thread::sleep_for(2100ms);
  net::Response expired = enroll_request(*server_, short_lived, make_key_and_csr().csr_pem);
  EXPECT_EQ(expired.status, 403);
  EXPECT_EQ(nlohmann::json::parse(expired.body)["code"], "token_expired") << expired.body;
}

TEST_P(PmosServer, RelayRequiresADeviceCertificate) {
  auto anonymous = net::WebSocketClient::connect(anonymous_tls(*server_), "127.0.0.1", server_->port(), "/v1/relay", 5s);
  EXPECT_FALSE(anonymous.has_value());
}

// ---- key packages

TEST_P(PmosServer, KeyPackagesArePublishedAndEachClaimedOnce) {
  Device alice = enroll("kp-alice");
  Device bob = enroll("kp-bob");
  auto a = connect(alice);
  auto b = connect(bob);
  ASSERT_TRUE(a && b);

  Bytes ordinary = key_package("alice-1");
  Bytes last_resort = key_package("alice-lr");
  pb::ClientFrame publish;
  publish.mutable_publish_key_packages()->add_key_packages(str(ordinary));
  publish.mutable_publish_key_packages()->set_last_resort(str(last_resort));
  ASSERT_EQ(a->call(publish).status(), pb::OK);

  pb::ClientFrame junk;
  junk.mutable_publish_key_packages()->add_key_packages("not a key package");
  EXPECT_EQ(a->call(junk).status(), pb::INVALID);

  pb::ClientFrame claim;
  claim.mutable_claim_key_packages()->set_user_id(alice.user);
  pb::Response first = b->call(claim);
  ASSERT_EQ(first.status(), pb::OK) << first.error();
  ASSERT_EQ(first.key_packages_size(), 1);
  EXPECT_EQ(first.key_packages(0).device_id(), alice.id);
  EXPECT_EQ(first.key_packages(0).key_package(), str(ordinary));
  EXPECT_FALSE(first.key_packages(0).last_resort());
  // The ordinary one is gone; the last-resort one is handed to everybody.
  for (int i = 0; i < 2; ++i) {
    pb::Response next = b->call(claim);
    ASSERT_EQ(next.status(), pb::OK);
    ASSERT_EQ(next.key_packages_size(), 1);
    EXPECT_EQ(next.key_packages(0).key_package(), str(last_resort));
    EXPECT_TRUE(next.key_packages(0).last_resort());
  }
  pb::ClientFrame nobody;
  nobody.mutable_claim_key_packages()->set_user_id("no-such-user");
  EXPECT_EQ(b->call(nobody).status(), pb::NOT_FOUND);
}

// ---- groups, commits, fan-out

TEST_P(PmosServer, TwoRacingCommittersExactlyOneWins) {
  Device alice = enroll("race-a"), bob = enroll("race-b"), carol = enroll("race-c");
  auto a = connect(alice);
  auto b = connect(bob);
  auto c = connect(carol);
  ASSERT_TRUE(a && b && c);
  Bytes group = unique_group("race");
  ASSERT_EQ(a->create_group(group, {bob.id, carol.id}).status(), pb::OK);

  for (int round = 0; round < 5; ++round) {
    std::uint64_t epoch = static_cast<std::uint64_t>(round);
    auto commit_frame = [&](const std::string& who) {
      pb::ClientFrame frame;
      frame.mutable_send_commit()->set_client_message_id(who + std::to_string(round));
      frame.mutable_send_commit()->set_commit(
          str(private_message(group, epoch, mls::ContentType::kCommit, who + " commit " + std::to_string(round))));
      return frame;
    };
    pb::Response from_a, from_b;
    std::thread racer([&] { from_a = a->call(commit_frame("a")); });
    from_b = b->call(commit_frame("b"));
    racer.join();
    int wins = (from_a.status() == pb::OK) + (from_b.status() == pb::OK);
    int conflicts = (from_a.status() == pb::EPOCH_CONFLICT) + (from_b.status() == pb::EPOCH_CONFLICT);
    ASSERT_EQ(wins, 1) << from_a.status() << " " << from_b.status();
    ASSERT_EQ(conflicts, 1);
    const pb::Response& winner = from_a.status() == pb::OK ? from_a : from_b;
    const pb::Response& loser = from_a.status() == pb::OK ? from_b : from_a;
    EXPECT_EQ(winner.epoch(), round + 1);
    EXPECT_EQ(loser.epoch(), round + 1);  // the conflict answer carries the current epoch
    // Carol gets exactly the winner's commit.
    auto delivered = c->next_delivery();
    ASSERT_TRUE(delivered.has_value());
    EXPECT_EQ(delivered->kind(), pb::Delivery::COMMIT);
    EXPECT_EQ(delivered->epoch(), round);
    EXPECT_EQ(delivered->sender_device(), from_a.status() == pb::OK ? alice.id : bob.id);
    c->ack(delivered->seq());
  }
  EXPECT_FALSE(c->next_delivery(300ms).has_value());
}

TEST_P(PmosServer, CommitWithWelcomeAddsAMember) {
  Device alice = enroll("welcome-a"), dave = enroll("welcome-d");
  auto a = connect(alice);
  auto d = connect(dave);
  ASSERT_TRUE(a && d);
  Bytes group = unique_group("welcome");
  ASSERT_EQ(a->create_group(group, {}).status(), pb::OK);
  // Dave is not a member yet: he may not send.
  EXPECT_EQ(d->send_message(group, 0, "d0", "let me in").status(), pb::NOT_MEMBER);

  pb::ClientFrame frame;
  pb::SendCommit* commit = frame.mutable_send_commit();
  commit->set_client_message_id("add-dave");
  commit->set_commit(str(private_message(group, 0, mls::ContentType::kCommit, "add dave")));
  commit->add_add_devices(dave.id);
  pb::WelcomeFor* welcome = commit->add_welcomes();
  welcome->add_recipient_devices(dave.id);
  welcome->set_welcome(str(welcome_message("welcome dave")));
  pb::Response accepted = a->call(frame);
  ASSERT_EQ(accepted.status(), pb::OK) << accepted.error();
  EXPECT_EQ(accepted.epoch(), 1);
  // A resend of the winning commit is a duplicate, not a conflict.
  EXPECT_EQ(a->call(frame).status(), pb::DUPLICATE);

  auto delivered = d->next_delivery();
  ASSERT_TRUE(delivered.has_value());
  EXPECT_EQ(delivered->kind(), pb::Delivery::WELCOME);
  EXPECT_EQ(delivered->message(), str(welcome_message("welcome dave")));
  EXPECT_EQ(d->send_message(group, 1, "d1", "thanks").status(), pb::OK);
  auto to_alice = a->next_delivery();
  ASSERT_TRUE(to_alice.has_value());
  EXPECT_EQ(to_alice->sender_device(), dave.id);

  // Malformed: a commit in SendMessage, junk as a commit.
  pb::ClientFrame wrong;
  wrong.mutable_send_message()->set_client_message_id("w");
  wrong.mutable_send_message()->set_message(str(private_message(group, 1, mls::ContentType::kCommit, "x")));
  EXPECT_EQ(a->call(wrong).status(), pb::INVALID);
  pb::ClientFrame junk;
  junk.mutable_send_commit()->set_client_message_id("j");
  junk.mutable_send_commit()->set_commit("junk");
  EXPECT_EQ(a->call(junk).status(), pb::INVALID);
}

TEST_P(PmosServer, FanOutReachesEveryMemberDevice) {
  constexpr int kMembers = 24;
  Device sender = enroll("fan-sender");
  std::vector<Device> members;
  for (int i = 0; i < kMembers; ++i) members.push_back(enroll("fan-" + std::to_string(i % 6)));
  auto s = connect(sender);
  std::vector<std::unique_ptr<RelayClient>> clients;
  std::vector<std::string> ids;
  for (const Device& member : members) {
    clients.push_back(connect(member));
    ASSERT_TRUE(clients.back());
    ids.push_back(member.id);
  }
  Bytes group = unique_group("fan");
  ASSERT_EQ(s->create_group(group, ids).status(), pb::OK);
  constexpr int kMessages = 5;
  for (int m = 0; m < kMessages; ++m) {
    pb::Response sent = s->send_message(group, 0, "fan" + std::to_string(m), "hello " + std::to_string(m));
    ASSERT_EQ(sent.status(), pb::OK) << sent.error();
    EXPECT_EQ(sent.recipients(), kMembers);
  }
  for (auto& client : clients) {
    std::int64_t last_seq = 0;
    for (int m = 0; m < kMessages; ++m) {
      auto delivered = client->next_delivery();
      ASSERT_TRUE(delivered.has_value()) << "message " << m;
      EXPECT_GT(delivered->seq(), last_seq);
      last_seq = delivered->seq();
      EXPECT_EQ(delivered->message(), str(private_message(group, 0, mls::ContentType::kApplication,
                                                          "hello " + std::to_string(m))));
      EXPECT_EQ(delivered->group_id(), str(group));
    }
    client->ack(last_seq);
  }
  // The sender does not get its own messages.
  EXPECT_FALSE(s->next_delivery(200ms).has_value());
}

// ---- offline queues, acks, resends

TEST_P(PmosServer, OfflineDeviceCatchesUpInOrderAndAcksDelete) {
  Device alice = enroll("off-a"), bob = enroll("off-b");
  auto a = connect(alice);
  ASSERT_TRUE(a);
  Bytes group = unique_group("offline");
  ASSERT_EQ(a->create_group(group, {bob.id}).status(), pb::OK);
  // More than the delivery window (128), to see the relay stream the backlog.
  constexpr int kMessages = 300;
  for (int m = 0; m < kMessages; ++m) {
    pb::ClientFrame frame;
    frame.mutable_send_message()->set_client_message_id("off" + std::to_string(m));
    frame.mutable_send_message()->set_message(
        str(private_message(group, 0, mls::ContentType::kApplication, std::to_string(m))));
    ASSERT_TRUE(a->send_frame(frame));  // pipelined: responses read below
  }
  // Bob connects, reads half, acks them, and drops off.
  std::int64_t acked = 0;
  {
    auto b = connect(bob);
    ASSERT_TRUE(b);
    for (int m = 0; m < 150; ++m) {
      auto delivered = b->next_delivery();
      ASSERT_TRUE(delivered.has_value()) << m;
      ASSERT_EQ(delivered->message(), str(private_message(group, 0, mls::ContentType::kApplication, std::to_string(m))));
      if (m % 50 == 49) {
        b->ack(delivered->seq());
        acked = delivered->seq();
      }
    }
    // Read a few more without acking: they must come again.
    for (int m = 150; m < 160; ++m) ASSERT_TRUE(b->next_delivery().has_value());
    ASSERT_TRUE(b->ws().close().has_value()) << b->ws().last_error_detail();
  }
  auto b = connect(bob);
  ASSERT_TRUE(b);
  std::int64_t last = acked;
  for (int m = 150; m < kMessages; ++m) {
    auto delivered = b->next_delivery();
    ASSERT_TRUE(delivered.has_value()) << m;
    // At-least-once: an ack still in the store's group commit when we
    // reconnected may let acked entries come again; a client skips them and
    // acks again (they occupy the relay's delivery window until acked).
    while (delivered && delivered->seq() <= acked) {
      b->ack(acked);
      delivered = b->next_delivery();
    }
    ASSERT_TRUE(delivered.has_value()) << m;
    ASSERT_EQ(delivered->message(), str(private_message(group, 0, mls::ContentType::kApplication, std::to_string(m))));
    ASSERT_GT(delivered->seq(), last);
    last = delivered->seq();
    if (m % 64 == 0 || m == kMessages - 1) b->ack(last);
  }
  EXPECT_FALSE(b->next_delivery(300ms).has_value());
  b.reset();  // a timed-out blocking client is unusable (libs/net): just drop it
  // Everything acked: a new connection gets nothing.
  auto again = connect(bob);
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->next_delivery(500ms).has_value());
}

TEST_P(PmosServer, ResendWithTheSameIdIsIdempotent) {
  Device alice = enroll("idem-a"), bob = enroll("idem-b");
  auto a = connect(alice);
  auto b = connect(bob);
  ASSERT_TRUE(a && b);
  Bytes group = unique_group("idem");
  ASSERT_EQ(a->create_group(group, {bob.id}).status(), pb::OK);
  EXPECT_EQ(a->send_message(group, 0, "m-1", "once").status(), pb::OK);
  pb::Response resent = a->send_message(group, 0, "m-1", "once");
  EXPECT_EQ(resent.status(), pb::DUPLICATE);
  EXPECT_EQ(resent.recipients(), 0);
  EXPECT_EQ(a->send_message(group, 0, "m-2", "twice").status(), pb::OK);
  auto first = b->next_delivery();
  auto second = b->next_delivery();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->message(), str(private_message(group, 0, mls::ContentType::kApplication, "once")));
  EXPECT_EQ(second->message(), str(private_message(group, 0, mls::ContentType::kApplication, "twice")));
  EXPECT_FALSE(b->next_delivery(300ms).has_value());
}

TEST_P(PmosServer, AttachmentRoundTrip) {
  Device alice = enroll("att-a"), bob = enroll("att-b");
  auto a = connect(alice);
  auto b = connect(bob);
  ASSERT_TRUE(a && b);
  std::string blob(300'000, '\0');
  for (std::size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>(i * 7);
  pb::ClientFrame upload;
  upload.mutable_upload_attachment()->set_data(blob);
  pb::Response uploaded = a->call(upload);
  ASSERT_EQ(uploaded.status(), pb::OK) << uploaded.error();
  ASSERT_EQ(uploaded.attachment_id().size(), 16u);
  pb::ClientFrame download;
  download.mutable_download_attachment()->set_attachment_id(uploaded.attachment_id());
  pb::Response downloaded = b->call(download);
  ASSERT_EQ(downloaded.status(), pb::OK);
  EXPECT_EQ(downloaded.attachment(), blob);
  download.mutable_download_attachment()->set_attachment_id(std::string(16, 'x'));
  EXPECT_EQ(b->call(download).status(), pb::NOT_FOUND);
  pb::ClientFrame too_big;
  too_big.mutable_upload_attachment()->set_data(std::string(2'090'000, 'z'));
  EXPECT_EQ(a->call(too_big).status(), pb::TOO_LARGE);
}

// ---- revocation and hostile frames

TEST_P(PmosServer, RevokedDeviceIsCutOffAndRefused) {
  Device mallory = enroll("rev-m");
  Device alice = enroll("rev-a");
  auto m = connect(mallory);
  auto a = connect(alice);
  ASSERT_TRUE(m && a);
  Bytes group = unique_group("rev");
  ASSERT_EQ(a->create_group(group, {mallory.id}).status(), pb::OK);

  auto started = std::chrono::steady_clock::now();
  CommandResult revoked = server_->cli("revoke " + mallory.id);
  ASSERT_EQ(revoked.status, 0) << server_->cli_log();
  int code = m->wait_for_close(3s);
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(code, static_cast<int>(net::CloseCode::kPolicyViolation));
  EXPECT_LT(took, 1500ms);  // within a second of the revocation, plus the CLI's own start-up
  // New connections fail in the handshake.
  EXPECT_FALSE(net::WebSocketClient::connect(mallory.tls(), "127.0.0.1", server_->port(), "/v1/relay", 5s).has_value());
  // Alice is unaffected, and the revoked device receives nothing more.
  pb::Response sent = a->send_message(group, 0, "after-revoke", "not for mallory");
  EXPECT_EQ(sent.status(), pb::OK);
  EXPECT_EQ(sent.recipients(), 0);
  EXPECT_NE(server_->cli("revoke no-such-device").status, 0);
}

TEST_P(PmosServer, OversizedAndGarbageFramesCloseOnlyThatConnection) {
  Device alice = enroll("bad-a"), bob = enroll("bad-b");
  auto a = connect(alice);
  auto b = connect(bob);
  ASSERT_TRUE(a && b);
  Bytes group = unique_group("bad");
  ASSERT_EQ(a->create_group(group, {bob.id}).status(), pb::OK);

  {
    auto oversized = connect(alice);
    ASSERT_TRUE(oversized);
    Bytes huge(2 * 1024 * 1024 + 1, 0x42);
    (void)oversized->ws().send(huge);
    EXPECT_EQ(oversized->wait_for_close(5s), static_cast<int>(net::CloseCode::kTooBig));
  }
  {
    auto garbage = connect(alice);
    ASSERT_TRUE(garbage);
    Bytes junk = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    ASSERT_TRUE(garbage->ws().send(junk).has_value());
    EXPECT_EQ(garbage->wait_for_close(5s), static_cast<int>(net::CloseCode::kProtocolError));
  }
  // The other connections and the server carry on.
  EXPECT_EQ(a->send_message(group, 0, "still-here", "fine").status(), pb::OK);
  auto delivered = b->next_delivery();
  ASSERT_TRUE(delivered.has_value());
  EXPECT_TRUE(server_->running());
  auto health = net::HttpsClient::connect(anonymous_tls(*server_), "127.0.0.1", server_->port(), 5s);
  ASSERT_TRUE(health.has_value());
  auto response = (*health)->request(net::Method::kGet, "/healthz");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
}

INSTANTIATE_TEST_SUITE_P(Backends, PmosServer, ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& backend) { return backend.param == Backend::kSqlite ? "Sqlite" : "Postgres"; });

}  // namespace
}  // namespace pmos

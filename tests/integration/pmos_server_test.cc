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
#include "server_harness.h"
#include "pmos/base/file.h"
#include "pmos/base/openssl_ptr.h"
#include "pmos/crypto/cipher_suite.h"
#include "pmos/mls/mls_message.h"
#include "pmos/mls/state.h"
#include "pmos/net/client.h"
#include "relay.pb.h"

namespace pmos {
namespace {

using namespace itest;

// ---- fixture: one server per back end for the whole program

class PmosServer : public ::testing::TestWithParam<Backend> {
 protected:
  static std::map<Backend, std::unique_ptr<ServerProcess>>& servers() {
    static std::map<Backend, std::unique_ptr<ServerProcess>> map;
    return map;
  }
  static void TearDownTestSuite() {
    for (auto& [backend, server] : servers()) {
      if (server == nullptr) continue;  // its SetUp failed
      EXPECT_EQ(server->stop(), 0) << "unclean shutdown";
    }
    servers().clear();
    release_test_postgres();
  }

  void SetUp() override {
    auto& slot = servers()[GetParam()];
    if (!slot) {
      std::string error;
      std::optional<std::string> database = test_database(GetParam(), error);
      ASSERT_TRUE(database.has_value()) << error;
      auto server = std::make_unique<ServerProcess>(*database);
      ASSERT_TRUE(server->init()) << server->cli_log();
      ASSERT_TRUE(server->start()) << server->log();
      slot = std::move(server);
    }
    server_ = slot.get();
    ASSERT_TRUE(server_->running()) << server_->log();
  }
  void TearDown() override {
    if (HasFailure() && server_ != nullptr) {
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

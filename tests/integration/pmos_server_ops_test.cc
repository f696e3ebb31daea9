// Operating pmos-server: limits and quotas, the config file and the
// environment, /metrics, two relay nodes on one PostgreSQL waking each other
// through NATS, and a kill -9 in the middle of sends. Real server processes
// over real TLS, as in pmos_server_test.cc.
#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "pg_throwaway.h"
#include "server_harness.h"

namespace pmos {
namespace {

using namespace itest;

std::string unique(const std::string& base) {
  static std::atomic<int> counter{0};
  return base + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

Bytes group_id(const std::string& base) { return to_bytes(unique(base)); }

pb::Response claim(RelayClient& client, const std::string& user) {
  pb::ClientFrame frame;
  frame.mutable_claim_key_packages()->set_user_id(user);
  return client.call(std::move(frame));
}

pb::Response publish(RelayClient& client, int count) {
  pb::ClientFrame frame;
  auto* request = frame.mutable_publish_key_packages();  // set even when empty: a query
  for (int i = 0; i < count; ++i) request->add_key_packages(str(key_package(unique("kp"))));
  return client.call(std::move(frame));
}

pb::Response upload(RelayClient& client, std::size_t size) {
  pb::ClientFrame frame;
  frame.mutable_upload_attachment()->set_data(std::string(size, 'z'));
  return client.call(std::move(frame));
}

std::string metrics(const ServerProcess& server) {
  net::TlsClientConfig tls = anonymous_tls(server);
  auto client = net::HttpsClient::connect(tls, "127.0.0.1", server.port(), 10s);
  if (!client) return {};
  auto response = (*client)->request(net::Method::kGet, "/metrics");
  return response && response->status == 200 ? response->body : std::string();
}

class ServerOps : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure()) {
      for (const auto& server : started_) {
        server->keep();
        std::fprintf(stderr, "server log (%s):\n%s\n", server->dir().c_str(), server->log().c_str());
      }
    }
  }
  // Owned here, so that TearDown can still print their logs.
  ServerProcess* server(const std::string& database = {}) {
    started_.push_back(std::make_unique<ServerProcess>(database));
    return started_.back().get();
  }
  std::vector<std::unique_ptr<ServerProcess>> started_;
};

TEST_F(ServerOps, OverTheRateLimitIsAnsweredAndTheConnectionStaysUsable) {
  auto relay = server();
  ASSERT_TRUE(relay->init()) << relay->cli_log();
  relay->set_run_args({"--rate-limit", "5", "--rate-burst", "5"});
  ASSERT_TRUE(relay->start()) << relay->log();
  Device device = enroll_device(*relay, unique("rate"));
  ASSERT_FALSE(device.id.empty());
  auto client = RelayClient::connect(device, relay->port());
  ASSERT_TRUE(client);

  int ok = 0, limited = 0;
  std::uint32_t retry_after = 0;
  for (int i = 0; i < 20; ++i) {
    pb::Response response = claim(*client, "nobody");
    if (response.status() == pb::RATE_LIMITED) {
      ++limited;
      retry_after = response.retry_after_ms();
      EXPECT_GT(response.retry_after_ms(), 0u);
      EXPECT_LE(response.retry_after_ms(), 200u);
    } else {
      ++ok;
    }
  }
  EXPECT_GE(ok, 5);
  EXPECT_LE(ok, 7) << "20 requests in well under a second at 5/s with a burst of 5";
  EXPECT_GE(limited, 13);
  // Acks are never limited, and after the wait the device may go on.
  client->ack(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(retry_after + 50));
  EXPECT_NE(claim(*client, "nobody").status(), pb::RATE_LIMITED);
  EXPECT_NE(metrics(*relay).find("pmos_relay_rate_limited_total " + std::to_string(limited)), std::string::npos)
      << metrics(*relay);
}

TEST_F(ServerOps, QuotasRefuseKeyPackagesAndAttachmentBytes) {
  auto relay = server();
  ASSERT_TRUE(relay->init()) << relay->cli_log();
  relay->set_run_args({"--max-key-packages", "3", "--attachment-quota-bytes", "100000"});
  ASSERT_TRUE(relay->start()) << relay->log();
  Device device = enroll_device(*relay, unique("quota"));
  auto client = RelayClient::connect(device, relay->port());
  ASSERT_TRUE(client);

  EXPECT_EQ(publish(*client, 2).status(), pb::OK);
  pb::Response over = publish(*client, 2);
  EXPECT_EQ(over.status(), pb::QUOTA_EXCEEDED) << over.error();
  EXPECT_NE(over.error().find("key packages"), std::string::npos);
  EXPECT_EQ(publish(*client, 1).status(), pb::OK) << "up to the quota is fine";

  EXPECT_EQ(upload(*client, 60000).status(), pb::OK);
  pb::Response too_much = upload(*client, 60000);
  EXPECT_EQ(too_much.status(), pb::QUOTA_EXCEEDED) << too_much.error();
  EXPECT_EQ(upload(*client, 30000).status(), pb::OK);
  EXPECT_NE(metrics(*relay).find("pmos_relay_quota_refusals_total 2"), std::string::npos) << metrics(*relay);
}

TEST_F(ServerOps, PublishAnswersHowManyKeyPackagesAreLeft) {
  auto relay = server();
  ASSERT_TRUE(relay->init()) << relay->cli_log();
  ASSERT_TRUE(relay->start()) << relay->log();
  std::string user = unique("kp-owner");
  Device owner = enroll_device(*relay, user);
  Device inviter = enroll_device(*relay, unique("kp-inviter"));
  auto owner_client = RelayClient::connect(owner, relay->port());
  auto inviter_client = RelayClient::connect(inviter, relay->port());
  ASSERT_TRUE(owner_client && inviter_client);

  pb::Response published = publish(*owner_client, 3);
  ASSERT_EQ(published.status(), pb::OK);
  EXPECT_EQ(published.key_packages_stored(), 3);
  // Another device claims one and never uses it: the owner can only learn
  // of it from the relay.
  pb::Response claimed = claim(*inviter_client, user);
  ASSERT_EQ(claimed.status(), pb::OK) << claimed.error();
  ASSERT_EQ(claimed.key_packages_size(), 1);
  pb::Response asked = publish(*owner_client, 0);
  ASSERT_EQ(asked.status(), pb::OK) << asked.error();
  EXPECT_EQ(asked.key_packages_stored(), 2);
  EXPECT_EQ(publish(*owner_client, 1).key_packages_stored(), 3);
}

TEST_F(ServerOps, ConfigFileEnvironmentAndFlagsAreLayered) {
  auto relay = server();
  ASSERT_TRUE(relay->init()) << relay->cli_log();
  // A config file with a typo: the server refuses to start and says where.
  std::ofstream(relay->data() + "/pmos-server.toml") << "rate-limit = 1\nrate-brust = 1\n";
  CommandResult refused = relay->cli("run --listen 127.0.0.1:0");
  EXPECT_EQ(refused.status, 2);
  EXPECT_NE(relay->cli_log().find("pmos-server.toml: 2: rate-brust: unknown key"), std::string::npos)
      << relay->cli_log();

  std::ofstream(relay->data() + "/pmos-server.toml") << "rate-limit = 1\nrate-burst = 1\nworkers = 3\n";
  // How many requests in a row pass before the first RATE_LIMITED.
  auto burst_of = [](RelayClient& client) {
    int passed = 0;
    while (passed < 10 && claim(client, "nobody").status() != pb::RATE_LIMITED) ++passed;
    return passed;
  };
  Device device;
  {
    ASSERT_TRUE(relay->start()) << relay->log();
    device = enroll_device(*relay, unique("config"));
    auto client = RelayClient::connect(device, relay->port());
    ASSERT_TRUE(client);
    EXPECT_EQ(burst_of(*client), 1) << "from the file";
    EXPECT_EQ(relay->stop(), 0);
  }
  {
    ::setenv("PMOS_RATE_BURST", "2", 1);
    ASSERT_TRUE(relay->start()) << relay->log();
    ::unsetenv("PMOS_RATE_BURST");
    auto client = RelayClient::connect(device, relay->port());
    ASSERT_TRUE(client);
    EXPECT_EQ(burst_of(*client), 2) << "the environment beats the file";
    EXPECT_EQ(relay->stop(), 0);
  }
  {
    ::setenv("PMOS_RATE_BURST", "2", 1);
    relay->set_run_args({"--rate-burst", "4"});
    ASSERT_TRUE(relay->start()) << relay->log();
    ::unsetenv("PMOS_RATE_BURST");
    auto client = RelayClient::connect(device, relay->port());
    ASSERT_TRUE(client);
    EXPECT_EQ(burst_of(*client), 4) << "the flag beats both";
    std::string text = metrics(*relay);
    for (const char* name : {"pmos_relay_connections 1", "pmos_relay_frames_in_total", "pmos_relay_queue_entries 0",
                             "pmos_store_write_seconds_bucket{le=\"0.001\"}", "pmos_relay_pending_requests"}) {
      EXPECT_NE(text.find(name), std::string::npos) << name << " missing from\n" << text;
    }
  }
}

// ---- several relay nodes

class ServerCluster : public ServerOps {
 protected:
  static void SetUpTestSuite() {
    auto pg = store::testing::PgThrowaway::start(PMOS_SOURCE_DIR "/scripts/pg-throwaway");
    if (pg) postgres_ = std::move(*pg);
    // The NATS script prints its URL first, like the PostgreSQL one.
    auto nats = store::testing::PgThrowaway::start(PMOS_SOURCE_DIR "/scripts/nats-throwaway");
    if (nats) nats_ = std::move(*nats);
  }
  static void TearDownTestSuite() {
    nats_.reset();
    postgres_.reset();
  }
  void SetUp() override {
    ASSERT_TRUE(postgres_) << "could not start a throwaway PostgreSQL (scripts/pg-throwaway)";
    ASSERT_TRUE(nats_) << "could not start a throwaway NATS server (scripts/nats-throwaway)";
  }
  static inline std::unique_ptr<store::testing::PgThrowaway> postgres_;
  static inline std::unique_ptr<store::testing::PgThrowaway> nats_;
};

TEST_F(ServerCluster, TwoRelayNodesOnOnePostgresWakeEachOtherThroughNats) {
  auto node_a = server(postgres_->conninfo());
  ASSERT_TRUE(node_a->init()) << node_a->cli_log();
  // Node B: the same CA and database, another process and port.
  auto node_b = server(postgres_->conninfo());
  std::filesystem::create_directories(node_b->data());
  for (const char* file : {"ca.pem", "ca.key", "server.pem", "server.key"})
    std::filesystem::copy_file(node_a->data() + "/" + file, node_b->data() + "/" + file);
  node_a->set_run_args({"--nats", nats_->conninfo(), "--node-id", "a"});
  node_b->set_run_args({"--nats", nats_->conninfo(), "--node-id", "b"});
  ASSERT_TRUE(node_a->start()) << node_a->log();
  ASSERT_TRUE(node_b->start()) << node_b->log();

  Device alice = enroll_device(*node_a, unique("alice"));
  Device bob = enroll_device(*node_b, unique("bob"));
  ASSERT_FALSE(alice.id.empty());
  ASSERT_FALSE(bob.id.empty());
  auto on_a = RelayClient::connect(alice, node_a->port());
  auto on_b = RelayClient::connect(bob, node_b->port());
  ASSERT_TRUE(on_a && on_b);

  Bytes group = group_id("cluster");
  ASSERT_EQ(on_a->create_group(group, {bob.id}).status(), pb::OK);
  for (int i = 0; i < 20; ++i) {
    // Both directions, each read by a device on the other node while it
    // stays connected: only a wake-up from the other node pushes it.
    ASSERT_EQ(on_a->send_message(group, 0, unique("a"), "from a " + std::to_string(i)).status(), pb::OK);
    auto at_b = on_b->next_delivery(5s);
    ASSERT_TRUE(at_b.has_value()) << "message " << i << " from node A never reached node B's device";
    EXPECT_EQ(at_b->sender_device(), alice.id);
    on_b->ack(at_b->seq());
    ASSERT_EQ(on_b->send_message(group, 0, unique("b"), "from b " + std::to_string(i)).status(), pb::OK);
    auto at_a = on_a->next_delivery(5s);
    ASSERT_TRUE(at_a.has_value()) << "message " << i << " from node B never reached node A's device";
    on_a->ack(at_a->seq());
  }
  EXPECT_EQ(node_a->stop(), 0);
  EXPECT_EQ(node_b->stop(), 0);
}

// ---- kill -9

TEST_F(ServerOps, EveryAckedMessageSurvivesAKill9AndNoneArrivesTwice) {
  auto relay = server();
  ASSERT_TRUE(relay->init()) << relay->cli_log();
  relay->set_run_args({"--rate-limit", "0"});
  ASSERT_TRUE(relay->start()) << relay->log();
  std::uint16_t port = relay->port();
  Device sender = enroll_device(*relay, unique("sender"));
  Device reader = enroll_device(*relay, unique("reader"));
  Bytes group = group_id("crash");
  constexpr int kMessages = 300;
  std::vector<std::string> ids;
  for (int i = 0; i < kMessages; ++i) ids.push_back(unique("m"));

  std::set<int> acked;
  {
    auto client = RelayClient::connect(sender, port);
    ASSERT_TRUE(client);
    ASSERT_EQ(client->create_group(group, {reader.id}).status(), pb::OK);
    std::atomic<int> ok_count{0};
    std::thread killer([&] {
      while (ok_count.load() < 100) std::this_thread::sleep_for(1ms);
      relay->kill9();
    });
    for (int i = 0; i < kMessages; ++i) {
      pb::Response response = client->send_message(group, 0, ids[i], "body " + std::to_string(i));
      if (response.status() != pb::OK) break;  // the server is gone
      acked.insert(i);
      ok_count.fetch_add(1);
    }
    killer.join();
  }
  ASSERT_GE(acked.size(), 100u);
  ASSERT_LT(acked.size(), static_cast<std::size_t>(kMessages)) << "the kill came after the last send";

  // Restart on the same port; the sender resends everything not acked,
  // with the same ids (the one in flight at the kill may have been stored).
  relay->set_port(port);
  ASSERT_TRUE(relay->start()) << relay->log();
  {
    auto client = RelayClient::connect(sender, port);
    ASSERT_TRUE(client);
    for (int i = 0; i < kMessages; ++i) {
      if (acked.contains(i)) continue;
      pb::Response response = client->send_message(group, 0, ids[i], "body " + std::to_string(i));
      ASSERT_TRUE(response.status() == pb::OK || response.status() == pb::DUPLICATE) << response.error();
    }
  }
  auto client = RelayClient::connect(reader, port);
  ASSERT_TRUE(client);
  std::vector<std::string> bodies;
  while (bodies.size() < static_cast<std::size_t>(kMessages)) {
    auto delivery = client->next_delivery(10s);
    ASSERT_TRUE(delivery.has_value()) << "only " << bodies.size() << " of " << kMessages << " arrived";
    auto decoded = tls::decode<mls::MlsMessage>(as_bytes(delivery->message()));
    ASSERT_TRUE(decoded.has_value());
    bodies.push_back(str(std::get<mls::PrivateMessage>(decoded->message).ciphertext));
    client->ack(delivery->seq());
  }
  EXPECT_FALSE(client->next_delivery(1s).has_value()) << "a message arrived twice";
  for (int i = 0; i < kMessages; ++i) EXPECT_EQ(bodies[static_cast<std::size_t>(i)], "body " + std::to_string(i));
}

}  // namespace
}  // namespace pmos

// The chat client core (libs/chat) against the real pmos-server process on
// 127.0.0.1, on SQLite and on PostgreSQL: enrollment with real tokens, MLS
// groups through the relay, and what the relay's database ends up holding.
// This binary links SQLCipher (through pmos::chat) and never libsqlite3: the
// relay's database is inspected as files (SQLite) or with pg_dump.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "pmos/base/file.h"
#include "pmos/chat/client.h"
#include "pmos/crypto/random.h"
#include "server_process.h"

namespace pmos {
namespace {

using namespace std::chrono_literals;
using chat::Client;

using itest::Backend;
using itest::CommandResult;
using itest::run_command;
using itest::ServerProcess;

// Cheap Argon2id: the tests open stores often; the cost is in chat.salt.
constexpr crypto::Argon2Params kFastKdf{1, 8192, 1};

// One device: its profile directory and its open client.
struct Device {
  std::string user;
  std::string home;
  std::string passcode;
  std::unique_ptr<Client> client;

  Client& operator*() { return *client; }
  Client* operator->() { return client.get(); }
  ErrorOr<void> reopen() {
    client.reset();
    chat::ClientOptions options;
    options.key_packages = 3;
    options.timeout = 10s;
    client = TRY(Client::open(home, passcode, options));
    return {};
  }
};

class Chat : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::string error;
    std::optional<std::string> database = itest::test_database(GetParam(), error);
    ASSERT_TRUE(database.has_value()) << error;
    server_ = std::make_unique<ServerProcess>(*database);
    ASSERT_TRUE(server_->init()) << "pmos-server init failed";
    ASSERT_TRUE(server_->start()) << server_->log();
  }
  void TearDown() override {
    devices_.clear();
    if (server_ == nullptr) return;  // SetUp failed before making it
    if (HasFailure()) {
      server_->keep();
      std::fprintf(stderr, "kept %s\nserver log (tail):\n%s\n", server_->dir().c_str(),
                   server_->log().substr(server_->log().size() > 4000 ? server_->log().size() - 4000 : 0).c_str());
    }
    EXPECT_EQ(server_->stop(), 0);
    server_.reset();
  }
  static void TearDownTestSuite() { itest::release_test_postgres(); }

  Device& enroll(const std::string& user) {
    CommandResult token = server_->cli("enroll-token --user " + user);
    EXPECT_EQ(token.status, 0);
    while (!token.out.empty() && token.out.back() == '\n') token.out.pop_back();
    auto device = std::make_unique<Device>();
    device->user = user;
    device->home = server_->dir() + "/device-" + std::to_string(devices_.size());
    device->passcode = "passcode-" + user;
    chat::EnrollRequest request;
    request.home = device->home;
    request.passcode = device->passcode;
    request.port = server_->port();
    request.ca_pem = server_->ca_pem();
    request.token = token.out;
    request.argon2 = kFastKdf;
    auto name = Client::enroll(request);
    EXPECT_TRUE(name.has_value()) << name.error().to_string();
    EXPECT_TRUE(device->reopen().has_value());
    // Publishes the key packages others will claim.
    if (device->client) {
      auto connected = (*device)->connect();
      EXPECT_TRUE(connected.has_value()) << connected.error().to_string();
    }
    devices_.push_back(std::move(device));
    return *devices_.back();
  }

  // Syncs the devices until `done` holds (or 20 s pass).
  bool sync_until(std::vector<Device*> devices, const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      for (Device* d : devices) {
        auto synced = (*d)->sync(150ms);
        EXPECT_TRUE(synced.has_value()) << d->user << ": " << synced.error().to_string();
      }
      if (done()) return true;
    }
    return false;
  }

  static std::vector<std::string> texts(Device& d, BytesView group) {
    std::vector<std::string> out;
    auto rows = d->messages(group, 100000);
    if (!rows) return out;
    for (const auto& row : *rows) out.push_back(row.text);
    return out;
  }
  static bool has_text(Device& d, BytesView group, const std::string& text) {
    auto all = texts(d, group);
    return std::find(all.begin(), all.end(), text) != all.end();
  }
  static std::vector<std::string> member_devices(Device& d, BytesView group) {
    std::vector<std::string> out;
    auto members = d->members(group);
    if (!members) return out;
    for (const auto& m : *members) out.push_back(m.device_id);
    std::sort(out.begin(), out.end());
    return out;
  }
  static bool in_conversation(Device& d, BytesView group) {
    auto row = d->store().conversation(group);
    return row && *row && (*row)->status == "active";
  }

  std::unique_ptr<ServerProcess> server_;
  std::vector<std::unique_ptr<Device>> devices_;
};

// Three users, four devices: create, every direction, add a member (no
// history), remove a member (nothing after), rename, receipts, attachment,
// disappearing messages, and the relay database holds no plaintext.
TEST_P(Chat, GroupConversationEndToEnd) {
  Device& a1 = enroll("alice");
  Device& a2 = enroll("alice");
  Device& b1 = enroll("bob");
  Device& c1 = enroll("carol");
  std::vector<std::string> plaintexts;

  auto group_made = a1->create_conversation("unit 7", {"bob"});
  ASSERT_TRUE(group_made.has_value()) << group_made.error().to_string();
  Bytes group = *group_made;
  ASSERT_TRUE(sync_until({&a2, &b1}, [&] { return in_conversation(a2, group) && in_conversation(b1, group); }));
  std::vector<std::string> expected = {a1->device_id(), a2->device_id(), b1->device_id()};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(member_devices(a1, group), expected);
  EXPECT_EQ(member_devices(b1, group), expected);
  EXPECT_EQ(b1->store().conversation(group).value()->name, "unit 7");

  // Every direction.
  std::map<Device*, std::string> said;
  for (Device* d : {&a1, &a2, &b1}) {
    std::string text = "hello from " + d->user + " " + d->client->device_id().substr(0, 6) + " ZQX1";
    auto id = (*d)->send_text(group, text);
    ASSERT_TRUE(id.has_value()) << id.error().to_string();
    said[d] = text;
    plaintexts.push_back(text);
  }
  ASSERT_TRUE(sync_until({&a1, &a2, &b1}, [&] {
    for (Device* d : {&a1, &a2, &b1})
      for (auto& [from, text] : said)
        if (!has_text(*d, group, text)) return false;
    return true;
  }));

  // Carol joins: she sees nothing from before.
  ASSERT_TRUE(a1->invite(group, {"carol"}).has_value());
  // (Bob's device syncs too: a message he sent from the epoch before the
  // Add would be unreadable for carol, by design.)
  ASSERT_TRUE(sync_until({&c1, &b1, &a2}, [&] { return in_conversation(c1, group) && member_devices(b1, group).size() == 4; }));
  EXPECT_TRUE(texts(c1, group).empty());
  auto after_join = b1->send_text(group, "welcome carol ZQX2");
  ASSERT_TRUE(after_join.has_value()) << after_join.error().to_string();
  plaintexts.push_back("welcome carol ZQX2");
  ASSERT_TRUE(sync_until({&a1, &a2, &c1}, [&] { return has_text(c1, group, "welcome carol ZQX2") && has_text(a2, group, "welcome carol ZQX2"); }));
  EXPECT_EQ(texts(c1, group), std::vector<std::string>{"welcome carol ZQX2"});

  // Delivery and read receipts come back to the sender.
  ASSERT_TRUE(sync_until({&b1, &c1, &a1}, [&] {
    auto row = b1->store().message(*after_join).value();
    return row && std::find(row->delivered_to.begin(), row->delivered_to.end(), c1->device_id()) != row->delivered_to.end();
  }));
  ASSERT_TRUE(c1->mark_read(group).has_value());
  ASSERT_TRUE(sync_until({&b1}, [&] {
    auto row = b1->store().message(*after_join).value();
    return row && std::find(row->read_by.begin(), row->read_by.end(), c1->device_id()) != row->read_by.end();
  }));

  // Edit and delete reach everyone; only the author may.
  auto id = a1->send_text(group, "typo ZQX3");
  ASSERT_TRUE(id.has_value());
  plaintexts.push_back("typo ZQX3");
  ASSERT_TRUE(sync_until({&b1}, [&] { return has_text(b1, group, "typo ZQX3"); }));
  ASSERT_TRUE(a1->edit(group, *id, "fixed ZQX4").has_value());
  plaintexts.push_back("fixed ZQX4");
  ASSERT_TRUE(sync_until({&b1}, [&] { return has_text(b1, group, "fixed ZQX4"); }));
  EXPECT_TRUE(b1->store().message(*id).value()->edited);
  EXPECT_FALSE(b1->delete_message(group, *id).has_value()) << "not bob's message";
  ASSERT_TRUE(a1->delete_message(group, *id).has_value());
  ASSERT_TRUE(sync_until({&b1}, [&] { return b1->store().message(*id).value()->deleted; }));
  EXPECT_FALSE(has_text(b1, group, "fixed ZQX4"));

  // Rename by another member reaches all.
  ASSERT_TRUE(b1->rename(group, "unit 7 night").has_value());
  ASSERT_TRUE(sync_until({&a1, &a2, &c1}, [&] {
    return a1->store().conversation(group).value()->name == "unit 7 night" &&
           c1->store().conversation(group).value()->name == "unit 7 night";
  }));

  // An attachment travels, encrypted on the device.
  Bytes file = crypto::random_bytes(200'000);
  std::string marker = "ATTACHMENT-PLAINTEXT-ZQX5";
  std::copy(marker.begin(), marker.end(), file.begin() + 1000);
  plaintexts.push_back(marker);
  auto attachment = c1->send_attachment(group, file, "scene.jpg", "image/jpeg", "the scene ZQX6");
  ASSERT_TRUE(attachment.has_value()) << attachment.error().to_string();
  plaintexts.push_back("the scene ZQX6");
  ASSERT_TRUE(sync_until({&a2}, [&] { return has_text(a2, group, "the scene ZQX6"); }));
  auto fetched = a2->fetch_attachment(*attachment);
  ASSERT_TRUE(fetched.has_value()) << fetched.error().to_string();
  EXPECT_EQ(*fetched, file);

  // Bob is removed (all his devices): he reads nothing after.
  ASSERT_TRUE(a2->remove_user(group, "bob").has_value());
  ASSERT_TRUE(sync_until({&b1}, [&] { return !in_conversation(b1, group); }));
  ASSERT_TRUE(a1->send_text(group, "after bob left ZQX7").has_value());
  plaintexts.push_back("after bob left ZQX7");
  ASSERT_TRUE(sync_until({&c1, &b1}, [&] { return has_text(c1, group, "after bob left ZQX7"); }));
  EXPECT_FALSE(has_text(b1, group, "after bob left ZQX7"));
  EXPECT_FALSE(b1->send_text(group, "bob tries").has_value());

  // Disappearing messages: gone from both stores once the timer runs out.
  ASSERT_TRUE(a1->set_disappearing(group, 60).has_value());
  ASSERT_TRUE(sync_until({&c1}, [&] { return c1->store().conversation(group).value()->disappear_s == 60; }));
  auto ephemeral = c1->send_text(group, "self-destructs ZQX8");
  ASSERT_TRUE(ephemeral.has_value());
  plaintexts.push_back("self-destructs ZQX8");
  ASSERT_TRUE(sync_until({&a1}, [&] { return has_text(a1, group, "self-destructs ZQX8"); }));
  std::int64_t later = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count() + 61'000;
  for (Device* d : {&a1, &c1}) {
    (*d)->set_clock([later] { return later; });
    EXPECT_GE((*d)->expire_messages().value(), 1u);
    EXPECT_FALSE((*d)->store().message(*ephemeral).value().has_value());
    EXPECT_FALSE(has_text(*d, group, "self-destructs ZQX8"));
  }
  EXPECT_TRUE(has_text(a1, group, "after bob left ZQX7")) << "messages from before the timer stay";

  // The relay's database holds ciphertext only.
  Bytes relay = server_->database_contents();
  ASSERT_GT(relay.size(), 1000u);
  for (const auto& text : plaintexts) {
    EXPECT_EQ(std::search(relay.begin(), relay.end(), text.begin(), text.end()), relay.end()) << text;
  }
  // And no device store holds it, or the device key, in the clear either.
  for (auto& d : devices_) {
    auto key = (*d)->store().get_secret("device_key").value();
    ASSERT_TRUE(key.has_value());
    ASSERT_EQ(key->size(), 32u);
    for (const auto& path : chat::Store::files(d->home)) {
      auto bytes = read_file(path, 1 << 30).value();
      EXPECT_EQ(std::search(bytes.begin(), bytes.end(), key->view().begin(), key->view().end()), bytes.end()) << path;
      EXPECT_EQ(std::search(bytes.begin(), bytes.end(), std::begin("PRIVATE KEY"), std::end("PRIVATE KEY") - 1), bytes.end());
      for (const auto& text : plaintexts)
        EXPECT_EQ(std::search(bytes.begin(), bytes.end(), text.begin(), text.end()), bytes.end()) << path << ": " << text;
    }
  }
}

// A device away for 100 messages catches up in order; racing commits are
// resolved without losing the loser's change or its outgoing message.
TEST_P(Chat, OfflineCatchUpAndCommitConflicts) {
  Device& a1 = enroll("dave");
  Device& b1 = enroll("erin");
  Device& c1 = enroll("frank");
  Bytes group = a1->create_conversation("patrol", {"erin"}).value();
  ASSERT_TRUE(sync_until({&b1}, [&] { return in_conversation(b1, group); }));

  b1->disconnect();
  std::vector<std::string> sent;
  auto sending = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) {
    sent.push_back("offline message " + std::to_string(i));
    ASSERT_TRUE(a1->send_text(group, sent.back()).has_value()) << i;
  }
  auto catching_up = std::chrono::steady_clock::now();
  ASSERT_TRUE(sync_until({&b1}, [&] { return texts(b1, group).size() >= 100; }));
  auto caught_up = std::chrono::steady_clock::now();
  auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  std::printf("100 sends: %lld ms; catch-up of 100 (incl. one 150 ms idle wait): %lld ms\n",
              static_cast<long long>(ms(catching_up - sending)), static_cast<long long>(ms(caught_up - catching_up)));
  EXPECT_EQ(texts(b1, group), sent) << "in order, each once";

  // At-least-once delivery: a device that stored messages but died before
  // acknowledging them gets them again, and stores each once.
  {
    chat::ClientOptions no_acks;
    no_acks.acknowledge = false;
    b1.client.reset();
    b1.client = Client::open(b1.home, b1.passcode, no_acks).value();
    ASSERT_TRUE(a1->send_text(group, "delivered twice").has_value());
    ASSERT_TRUE(sync_until({&b1}, [&] { return has_text(b1, group, "delivered twice"); }));
    ASSERT_TRUE(b1.reopen().has_value());
    ASSERT_TRUE(b1->sync(300ms).has_value());
    EXPECT_GE(b1->stats().duplicate_deliveries, 1u) << "the relay delivered it again";
    EXPECT_EQ(b1->stats().skipped_deliveries, 0u) << "recognised by sequence number, not by failing";
    auto all = texts(b1, group);
    EXPECT_EQ(std::count(all.begin(), all.end(), "delivered twice"), 1);
  }

  // Both commit in the same epoch: dave renames, erin (not yet synced)
  // invites frank. One wins; the other catches up and commits again.
  ASSERT_TRUE(sync_until({&a1, &b1}, [] { return true; }));
  ASSERT_TRUE(a1->rename(group, "patrol north").has_value());
  auto queued = b1->send_text(group, "sent while behind");
  ASSERT_TRUE(queued.has_value()) << queued.error().to_string();
  std::size_t conflicts = b1->stats().commit_conflicts;
  auto invited = b1->invite(group, {"frank"});
  ASSERT_TRUE(invited.has_value()) << invited.error().to_string();
  EXPECT_EQ(b1->stats().commit_conflicts, conflicts + 1) << "the relay refused erin's first commit";
  ASSERT_TRUE(sync_until({&a1, &b1, &c1}, [&] {
    return in_conversation(c1, group) && member_devices(a1, group).size() == 3 &&
           has_text(a1, group, "sent while behind");
  }));
  EXPECT_EQ(member_devices(a1, group), member_devices(b1, group));
  EXPECT_EQ(member_devices(a1, group), member_devices(c1, group));
  EXPECT_EQ(b1->store().conversation(group).value()->name, "patrol north");
  EXPECT_EQ(c1->store().conversation(group).value()->name, "patrol north");

  // Leaving: another member commits the Remove proposal.
  ASSERT_TRUE(c1->leave(group).has_value());
  ASSERT_TRUE(sync_until({&a1, &b1, &c1}, [&] { return !in_conversation(c1, group) && member_devices(a1, group).size() == 2; }));
  ASSERT_TRUE(b1->send_text(group, "frank is gone").has_value());
  ASSERT_TRUE(sync_until({&a1, &c1}, [&] { return has_text(a1, group, "frank is gone"); }));
  EXPECT_FALSE(has_text(c1, group, "frank is gone"));

  // A self-update (empty commit with a path) keeps everyone in step.
  ASSERT_TRUE(a1->self_update(group).has_value());
  ASSERT_TRUE(b1->send_text(group, "after the update").has_value());
  ASSERT_TRUE(sync_until({&a1}, [&] { return has_text(a1, group, "after the update"); }));
}

// A revoked device can no longer send or receive.
TEST_P(Chat, RevokedDeviceIsCutOff) {
  Device& a1 = enroll("grace");
  Device& m1 = enroll("mallory");
  Bytes group = a1->create_conversation("desk", {"mallory"}).value();
  ASSERT_TRUE(sync_until({&m1}, [&] { return in_conversation(m1, group); }));
  ASSERT_EQ(server_->cli("revoke " + m1->device_id()).status, 0);
  std::this_thread::sleep_for(1200ms);
  ASSERT_TRUE(a1->send_text(group, "not for mallory").has_value());
  m1->disconnect();
  EXPECT_FALSE(m1->sync(300ms).has_value()) << "the relay refuses the revoked certificate";
  EXPECT_FALSE(m1->send_text(group, "from a revoked device").has_value());
  EXPECT_FALSE(has_text(m1, group, "not for mallory"));
}

// Every client and the server restart: nothing is lost, chatting goes on.
TEST_P(Chat, RestartOfEverythingLosesNothing) {
  Device& a1 = enroll("heidi");
  Device& b1 = enroll("ivan");
  Bytes group = a1->create_conversation("night shift", {"ivan"}).value();
  ASSERT_TRUE(sync_until({&b1}, [&] { return in_conversation(b1, group); }));
  ASSERT_TRUE(a1->send_text(group, "before restart").has_value());
  ASSERT_TRUE(sync_until({&b1}, [&] { return has_text(b1, group, "before restart"); }));
  // Sent while bob is not looking: it waits in the relay across the restart.
  ASSERT_TRUE(a1->send_text(group, "waiting in the relay").has_value());

  std::uint16_t port = server_->port();
  ASSERT_EQ(server_->stop(), 0);
  a1.client.reset();
  b1.client.reset();
  server_->set_port(port);
  ASSERT_TRUE(server_->start()) << server_->log();
  ASSERT_TRUE(a1.reopen().has_value());
  ASSERT_TRUE(b1.reopen().has_value());
  // A wrong passcode is a clear error and harms nothing.
  auto wrong = Client::open(b1.home, "not the passcode");
  ASSERT_FALSE(wrong.has_value());
  EXPECT_NE(std::string(wrong.error().message()).find("wrong passcode"), std::string::npos);

  ASSERT_TRUE(sync_until({&b1}, [&] { return has_text(b1, group, "waiting in the relay"); }));
  EXPECT_EQ(texts(b1, group), (std::vector<std::string>{"before restart", "waiting in the relay"}));
  ASSERT_TRUE(b1->send_text(group, "after restart").has_value());
  ASSERT_TRUE(sync_until({&a1}, [&] { return has_text(a1, group, "after restart"); }));
  EXPECT_EQ(texts(a1, group), (std::vector<std::string>{"before restart", "waiting in the relay", "after restart"}));

  // Periodic self-update: once the interval has passed, a sync commits an
  // empty commit with a path; the other member follows it.
  std::int64_t later = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count() + 8 * 24 * 3600 * 1000LL;
  std::size_t commits = a1->stats().commits;
  a1->set_clock([later] { return later; });
  ASSERT_TRUE(a1->sync(150ms).has_value());
  EXPECT_EQ(a1->stats().commits, commits + 1) << "default interval: 7 days";
  ASSERT_TRUE(a1->send_text(group, "after the self-update").has_value());
  ASSERT_TRUE(sync_until({&b1}, [&] { return has_text(b1, group, "after the self-update"); }));
}

// `pmos chat` as a person uses it: enroll two profiles, create, send, read.
TEST_P(Chat, CommandLine) {
  auto pmos = [&](const std::string& home, const std::string& args) {
    return run_command("PMOS_PASSCODE=cli-pass " + std::string(PMOS_BINARY) + " chat --home " + home + " " + args +
                       " 2>>" + server_->dir() + "/pmos-cli.log");
  };
  std::string ca = server_->data() + "/ca.pem";
  std::string server = "127.0.0.1:" + std::to_string(server_->port());
  std::string homes[2] = {server_->dir() + "/cli-judy", server_->dir() + "/cli-ken"};
  std::string users[2] = {"judy", "ken"};
  for (int i = 0; i < 2; ++i) {
    CommandResult token = server_->cli("enroll-token --user " + users[i]);
    ASSERT_EQ(token.status, 0);
    token.out.pop_back();
    CommandResult enrolled = pmos(homes[i], "--json enroll --server " + server + " --ca " + ca + " --token " + token.out);
    ASSERT_EQ(enrolled.status, 0) << enrolled.out;
    EXPECT_NE(enrolled.out.find("\"user_id\":\"" + users[i] + "\""), std::string::npos) << enrolled.out;
    ASSERT_EQ(pmos(homes[i], "sync").status, 0);
  }
  CommandResult created = pmos(homes[0], "create cli-room ken");
  ASSERT_EQ(created.status, 0) << created.out;
  ASSERT_EQ(pmos(homes[1], "conversations").status, 0);
  CommandResult sent = pmos(homes[1], "send cli-room hello from the command line");
  ASSERT_EQ(sent.status, 0) << sent.out;
  CommandResult read = pmos(homes[0], "--json read cli-room");
  ASSERT_EQ(read.status, 0);
  EXPECT_NE(read.out.find("\"text\":\"hello from the command line\""), std::string::npos) << read.out;
  CommandResult members = pmos(homes[0], "members cli-room");
  EXPECT_NE(members.out.find("ken"), std::string::npos) << members.out;
  EXPECT_NE(pmos(homes[0], "send no-such-room hi").status, 0);
  CommandResult wrong = run_command("PMOS_PASSCODE=wrong " + std::string(PMOS_BINARY) + " chat --home " + homes[0] +
                                    " conversations 2>&1");
  EXPECT_EQ(wrong.status, 1);
  EXPECT_NE(wrong.out.find("wrong passcode"), std::string::npos) << wrong.out;
}

INSTANTIATE_TEST_SUITE_P(Backends, Chat, ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& param_info) { return param_info.param == Backend::kSqlite ? "Sqlite" : "Postgres"; });

}  // namespace
}  // namespace pmos

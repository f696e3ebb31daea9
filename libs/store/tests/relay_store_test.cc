// The relay's operations, each on both back ends. Where the guarantee is
// about concurrency, two RelayStores (as two relay processes would) race on
// one database from many threads.

#include <algorithm>
#include <atomic>
#include <barrier>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "store_fixture.h"

namespace pmos::store::testing {
namespace {

using RelayStoreTest = StoreTest;

Bytes id_bytes(std::string_view text) { return to_bytes(text); }

std::string device_name(int i) {
  std::string name = "device-" + std::to_string(1000 + i);
  return name;
}

// Adds devices device-1000 ... and returns their ids.
std::vector<std::string> add_devices(RelayStore& store, int count, std::string_view user = "user") {
  std::vector<std::string> ids;
  for (int i = 0; i < count; ++i) {
    Device device{device_name(i), std::string(user) + std::to_string(i), id_bytes("fp-" + device_name(i)), false};
    auto added = store.add_device(device);
    EXPECT_TRUE(added.has_value() && added.value()) << device.id;
    ids.push_back(device.id);
  }
  return ids;
}

OutgoingMessage message_from(std::string sender, const Bytes& group, std::string id, std::string body) {
  OutgoingMessage message;
  message.group_id = group;
  message.sender_device = std::move(sender);
  message.message_id = id_bytes(id);
  message.body = id_bytes(body);
  return message;
}

TEST_P(RelayStoreTest, DevicesLookupAndRevocation) {
  ASSERT_OK_AND_ASSIGN(auto store, RelayStore::create(relay_config()));
  Device phone{"d1", "alice", {1, 2, 3}, false};
  ASSERT_OK_AND_ASSIGN(bool added, store->add_device(phone));
  EXPECT_TRUE(added);
  ASSERT_OK_AND_ASSIGN(added, store->add_device(phone));
  EXPECT_FALSE(added);
  // Another id with the same certificate is refused as well.
  ASSERT_OK_AND_ASSIGN(added, store->add_device(Device{"d2", "alice", {1, 2, 3}, false}));
  EXPECT_FALSE(added);
  ASSERT_OK_AND_ASSIGN(added, store->add_device(Device{"d3", "alice", {4}, false}));
  EXPECT_TRUE(added);

  ASSERT_OK_AND_ASSIGN(auto found, store->device_by_fingerprint(Bytes{1, 2, 3}));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, "d1");
  EXPECT_EQ(found->user_id, "alice");
  EXPECT_FALSE(found->revoked);
  ASSERT_OK_AND_ASSIGN(auto devices, store->devices_of_user("alice"));
  ASSERT_EQ(devices.size(), 2u);
  EXPECT_EQ(devices[1].id, "d3");

  const Bytes kp = {9, 9};
  ASSERT_OK(store->publish_key_packages("d1", std::span(&kp, 1)));
  ASSERT_OK_AND_ASSIGN(bool revoked, store->revoke_device("d1"));
  EXPECT_TRUE(revoked);
  ASSERT_OK_AND_ASSIGN(revoked, store->revoke_device("nobody"));
  EXPECT_FALSE(revoked);
  ASSERT_OK_AND_ASSIGN(found, store->device("d1"));
  ASSERT_TRUE(found.has_value());
  EXPECT_TRUE(found->revoked);
  ASSERT_OK_AND_ASSIGN(auto claimed, store->claim_key_package("d1"));
  EXPECT_FALSE(claimed.has_value());
  ASSERT_OK_AND_ASSIGN(auto revoked_list, store->revoked_devices());
  ASSERT_EQ(revoked_list.size(), 1u);
  EXPECT_EQ(revoked_list[0].id, "d1");
  EXPECT_EQ(revoked_list[0].certificate_fingerprint, (Bytes{1, 2, 3}));
  ASSERT_OK_AND_ASSIGN(found, store->device("nobody"));
  EXPECT_FALSE(found.has_value());
}

TEST_P(RelayStoreTest, EnrollmentTokenIsConsumedExactlyOnceUnderConcurrency) {
  // Two stores on one database: two relay processes.
  ASSERT_OK_AND_ASSIGN(auto first, RelayStore::create(relay_config()));
  ASSERT_OK_AND_ASSIGN(auto second, RelayStore::create(relay_config()));
  const Bytes token = id_bytes("sha256-of-token");
  auto in_an_hour = std::chrono::system_clock::now() + std::chrono::hours(1);
  ASSERT_OK_AND_ASSIGN(bool added, first->add_enrollment_token(token, "bob", in_an_hour));
  EXPECT_TRUE(added);

  constexpr int kThreads = 16;
  std::barrier start(kThreads);
  std::mutex mutex;
  std::map<TokenStatus, int> outcomes;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      RelayStore& store = i % 2 == 0 ? *first : *second;
      start.arrive_and_wait();
      auto result = store.consume_enrollment_token(token);
      ASSERT_TRUE(result.has_value()) << result.error().to_string();
      std::lock_guard lock(mutex);
      ++outcomes[result->status];
      if (result->status == TokenStatus::kConsumed) {
        EXPECT_EQ(result->user_id, "bob");
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(outcomes[TokenStatus::kConsumed], 1);
  EXPECT_EQ(outcomes[TokenStatus::kAlreadyUsed], kThreads - 1);

  ASSERT_OK_AND_ASSIGN(auto unknown, first->consume_enrollment_token(id_bytes("never issued")));
  EXPECT_EQ(unknown.status, TokenStatus::kUnknown);
  const Bytes stale = id_bytes("stale");
  ASSERT_OK(first->add_enrollment_token(stale, "bob", std::chrono::system_clock::now() - std::chrono::seconds(1)));
  ASSERT_OK_AND_ASSIGN(auto expired, first->consume_enrollment_token(stale));
  EXPECT_EQ(expired.status, TokenStatus::kExpired);
}

TEST_P(RelayStoreTest, KeyPackagesAreClaimedExactlyOnceUnderConcurrency) {
  ASSERT_OK_AND_ASSIGN(auto first, RelayStore::create(relay_config()));
  ASSERT_OK_AND_ASSIGN(auto second, RelayStore::create(relay_config()));
  add_devices(*first, 1);
  constexpr int kPackages = 60;
  std::vector<Bytes> packages;
  for (int i = 0; i < kPackages; ++i) packages.push_back(id_bytes("kp-" + std::to_string(i)));
  const Bytes old_last_resort = id_bytes("last-resort-old");
  const Bytes last_resort = id_bytes("last-resort");
  ASSERT_OK(first->publish_key_packages(device_name(0), packages, BytesView(old_last_resort)));
  // A new last-resort package replaces the old one.
  ASSERT_OK(first->publish_key_packages(device_name(0), {}, BytesView(last_resort)));
  ASSERT_OK_AND_ASSIGN(auto count, first->key_package_count(device_name(0)));
  EXPECT_EQ(count, kPackages);

  constexpr int kThreads = 8;
  std::barrier start(kThreads);
  std::mutex mutex;
  std::multiset<Bytes> claimed;
  std::atomic<int> last_resort_claims{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      RelayStore& store = t % 2 == 0 ? *first : *second;
      start.arrive_and_wait();
      // Claim until the ordinary packages run out (then the last resort is
      // handed out, and keeps being handed out).
      for (;;) {
        auto result = store.claim_key_package(device_name(0));
        ASSERT_TRUE(result.has_value()) << result.error().to_string() << " " << last_error_detail();
        ASSERT_TRUE(result->has_value());
        if ((*result)->last_resort) {
          EXPECT_EQ((*result)->key_package, last_resort);
          ++last_resort_claims;
          return;
        }
        std::lock_guard lock(mutex);
        claimed.insert((*result)->key_package);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(claimed.size(), static_cast<std::size_t>(kPackages));
  EXPECT_EQ(std::set<Bytes>(claimed.begin(), claimed.end()).size(), static_cast<std::size_t>(kPackages));
  EXPECT_EQ(last_resort_claims.load(), kThreads);
  ASSERT_OK_AND_ASSIGN(count, first->key_package_count(device_name(0)));
  EXPECT_EQ(count, 0);
  ASSERT_OK_AND_ASSIGN(auto none, first->claim_key_package("no-such-device"));
  EXPECT_FALSE(none.has_value());
}

TEST_P(RelayStoreTest, OfTwoRacingCommitsForAnEpochExactlyOneWins) {
  ASSERT_OK_AND_ASSIGN(auto first, RelayStore::create(relay_config()));
  ASSERT_OK_AND_ASSIGN(auto second, RelayStore::create(relay_config()));
  auto devices = add_devices(*first, 3);
  const Bytes group = id_bytes("group");
  ASSERT_OK_AND_ASSIGN(bool created, first->create_group(group, devices));
  ASSERT_TRUE(created);

  constexpr int kRounds = 15;
  int wins[2] = {0, 0};
  for (int round = 0; round < kRounds; ++round) {
    std::barrier start(2);
    CommitResult results[2];
    std::thread racers[2];
    for (int r = 0; r < 2; ++r) {
      racers[r] = std::thread([&, r] {
        CommitRequest commit;
        commit.group_id = group;
        commit.sender_device = devices[static_cast<std::size_t>(r)];
        commit.message_id = id_bytes("commit-" + std::to_string(round) + "-" + std::to_string(r));
        commit.epoch = round;
        commit.commit = id_bytes("commit body " + std::to_string(r));
        RelayStore& store = r == 0 ? *first : *second;
        start.arrive_and_wait();
        auto result = store.submit_commit(commit);
        ASSERT_TRUE(result.has_value()) << result.error().to_string() << " " << last_error_detail();
        results[r] = *result;
      });
    }
    for (auto& racer : racers) racer.join();
    int accepted = 0;
    for (int r = 0; r < 2; ++r) {
      if (results[r].status == CommitStatus::kAccepted) {
        ++accepted;
        ++wins[r];
        EXPECT_EQ(results[r].epoch, round + 1);
      } else {
        EXPECT_EQ(results[r].status, CommitStatus::kEpochConflict);
        EXPECT_EQ(results[r].epoch, round + 1) << "the loser learns the current epoch";
      }
    }
    ASSERT_EQ(accepted, 1) << "round " << round;
  }
  ASSERT_OK_AND_ASSIGN(auto info, first->group(group));
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->epoch, kRounds);
  // The bystander got exactly one commit per epoch, in epoch order.
  ASSERT_OK_AND_ASSIGN(auto queued, first->fetch(devices[2], 0, 1000));
  ASSERT_EQ(queued.size(), static_cast<std::size_t>(kRounds));
  for (int i = 0; i < kRounds; ++i) {
    EXPECT_EQ(queued[static_cast<std::size_t>(i)].kind, MessageKind::kCommit);
    EXPECT_EQ(queued[static_cast<std::size_t>(i)].epoch, i);
  }
  // A stale commit is refused with the current epoch.
  CommitRequest stale{group, devices[0], id_bytes("stale"), 0, id_bytes("x"), {}, {}, {}};
  ASSERT_OK_AND_ASSIGN(auto refused, first->submit_commit(stale));
  EXPECT_EQ(refused.status, CommitStatus::kEpochConflict);
  EXPECT_EQ(refused.epoch, kRounds);
}

TEST_P(RelayStoreTest, CommitChangesMembershipAndDeliversWelcomes) {
  ASSERT_OK_AND_ASSIGN(auto store, RelayStore::create(relay_config()));
  auto devices = add_devices(*store, 4);  // 0 commits, 1 stays, 2 is removed, 3 is added
  const Bytes group = id_bytes("g");
  ASSERT_OK(store->create_group(group, std::vector<std::string>(devices.begin(), devices.begin() + 3)));
  CommitRequest commit{group, devices[0], id_bytes("c1"), 0, id_bytes("commit"), {devices[3]}, {devices[2]},
                       {Welcome{{devices[3]}, id_bytes("welcome")}}};
  ASSERT_OK_AND_ASSIGN(auto result, store->submit_commit(commit));
  EXPECT_EQ(result.status, CommitStatus::kAccepted);
  EXPECT_EQ(result.epoch, 1);
  ASSERT_OK_AND_ASSIGN(auto info, store->group(group));
  EXPECT_EQ(info->members, (std::vector<std::string>{devices[0], devices[1], devices[3]}));

  ASSERT_OK_AND_ASSIGN(auto stays, store->fetch(devices[1], 0, 10));
  ASSERT_EQ(stays.size(), 1u);
  EXPECT_EQ(stays[0].kind, MessageKind::kCommit);
  EXPECT_EQ(stays[0].sender_device, devices[0]);
  EXPECT_EQ(stays[0].body, id_bytes("commit"));
  ASSERT_OK_AND_ASSIGN(auto removed, store->fetch(devices[2], 0, 10));
  ASSERT_EQ(removed.size(), 1u) << "a removed member learns of it from the commit";
  ASSERT_OK_AND_ASSIGN(auto added, store->fetch(devices[3], 0, 10));
  ASSERT_EQ(added.size(), 1u);
  EXPECT_EQ(added[0].kind, MessageKind::kWelcome);
  EXPECT_EQ(added[0].epoch, 1);
  EXPECT_EQ(added[0].body, id_bytes("welcome"));
  ASSERT_OK_AND_ASSIGN(auto sender, store->fetch(devices[0], 0, 10));
  EXPECT_TRUE(sender.empty());

  // Resending the accepted commit reports the same outcome and queues nothing.
  ASSERT_OK_AND_ASSIGN(auto again, store->submit_commit(commit));
  EXPECT_EQ(again.status, CommitStatus::kDuplicate);
  EXPECT_EQ(again.epoch, 1);
  ASSERT_OK_AND_ASSIGN(stays, store->fetch(devices[1], 0, 10));
  EXPECT_EQ(stays.size(), 1u);

  // After the commit the removed device is out and the added one in.
  ASSERT_OK_AND_ASSIGN(auto sent, store->send_message(message_from(devices[3], group, "m1", "hello")));
  EXPECT_EQ(sent.status, SendStatus::kQueued);
  EXPECT_EQ(sent.recipients, 2);
  ASSERT_OK_AND_ASSIGN(auto refused, store->send_message(message_from(devices[2], group, "m2", "hi")));
  EXPECT_EQ(refused.status, SendStatus::kNotMember);
  ASSERT_OK_AND_ASSIGN(auto unknown, store->send_message(message_from(devices[1], id_bytes("nope"), "m3", "")));
  EXPECT_EQ(unknown.status, SendStatus::kNoSuchGroup);
  CommitRequest outsider{group, devices[2], id_bytes("c2"), 1, id_bytes("x"), {}, {}, {}};
  ASSERT_OK_AND_ASSIGN(auto not_member, store->submit_commit(outsider));
  EXPECT_EQ(not_member.status, CommitStatus::kNotMember);
}

TEST_P(RelayStoreTest, FansOutToAHundredDevices) {
  ASSERT_OK_AND_ASSIGN(auto store, RelayStore::create(relay_config()));
  auto devices = add_devices(*store, 101);
  const Bytes group = id_bytes("big");
  ASSERT_OK(store->create_group(group, devices));
  // A revoked member no longer receives.
  ASSERT_OK(store->revoke_device(devices[100]));
  ASSERT_OK_AND_ASSIGN(auto sent, store->send_message(message_from(devices[0], group, "m", "to all")));
  EXPECT_EQ(sent.status, SendStatus::kQueued);
  EXPECT_EQ(sent.recipients, 99);
  ASSERT_OK_AND_ASSIGN(sent, store->send_message(message_from(devices[0], group, "m2", "again")));
  EXPECT_EQ(sent.recipients, 99);
  // What the relay pushes at once: each recipient with its new sequence number.
  ASSERT_EQ(sent.queued.size(), 99u);
  std::set<std::string> pushed;
  for (const QueuedFor& entry : sent.queued) {
    EXPECT_EQ(entry.seq, 2) << entry.device_id;
    pushed.insert(entry.device_id);
  }
  EXPECT_EQ(pushed, std::set<std::string>(devices.begin() + 1, devices.begin() + 100));
  for (int i = 1; i < 100; ++i) {
    ASSERT_OK_AND_ASSIGN(auto queued, store->fetch(devices[static_cast<std::size_t>(i)], 0, 10));
    ASSERT_EQ(queued.size(), 2u) << devices[static_cast<std::size_t>(i)];
    EXPECT_EQ(queued[0].seq, 1);
    EXPECT_EQ(queued[0].body, id_bytes("to all"));
    EXPECT_EQ(queued[0].group_id, group);
    EXPECT_EQ(queued[0].kind, MessageKind::kApplication);
    EXPECT_EQ(queued[1].seq, 2);
  }
  ASSERT_OK_AND_ASSIGN(auto revoked, store->fetch(devices[100], 0, 10));
  EXPECT_TRUE(revoked.empty());
  ASSERT_OK_AND_ASSIGN(auto own, store->fetch(devices[0], 0, 10));
  EXPECT_TRUE(own.empty());
}

TEST_P(RelayStoreTest, FetchesInOrderAfterASequenceNumberAndAckDeletes) {
  ASSERT_OK_AND_ASSIGN(auto store, RelayStore::create(relay_config()));
  auto devices = add_devices(*store, 2);
  const Bytes group = id_bytes("pair");
  ASSERT_OK(store->create_group(group, devices));
  for (int i = 1; i <= 20; ++i) {
    ASSERT_OK(store->send_message(message_from(devices[0], group, "m" + std::to_string(i), "body " + std::to_string(i))));
  }
  ASSERT_OK_AND_ASSIGN(auto all, store->fetch(devices[1], 0, 100));
  ASSERT_EQ(all.size(), 20u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].seq, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(all[i].body, id_bytes("body " + std::to_string(i + 1)));
  }
  ASSERT_OK_AND_ASSIGN(auto tail, store->fetch(devices[1], 15, 3));
  ASSERT_EQ(tail.size(), 3u);
  EXPECT_EQ(tail[0].seq, 16);
  EXPECT_EQ(tail[2].seq, 18);

  ASSERT_OK_AND_ASSIGN(auto deleted, store->ack(devices[1], 10));
  EXPECT_EQ(deleted, 10);
  ASSERT_OK_AND_ASSIGN(all, store->fetch(devices[1], 0, 100));
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all.front().seq, 11);
  // Acking again, or acking another device's numbers, deletes nothing more.
  ASSERT_OK_AND_ASSIGN(deleted, store->ack(devices[1], 10));
  EXPECT_EQ(deleted, 0);
  ASSERT_OK_AND_ASSIGN(deleted, store->ack(devices[0], 100));
  EXPECT_EQ(deleted, 0);
  ASSERT_OK_AND_ASSIGN(deleted, store->ack(devices[1], 20));
  EXPECT_EQ(deleted, 10);
  ASSERT_OK_AND_ASSIGN(all, store->fetch(devices[1], 0, 100));
  EXPECT_TRUE(all.empty());
  // Numbers are never reused after an ack.
  ASSERT_OK(store->send_message(message_from(devices[0], group, "m21", "later")));
  ASSERT_OK_AND_ASSIGN(all, store->fetch(devices[1], 0, 100));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].seq, 21);
}

// Concurrent senders through group commit (and through two stores): every
// recipient's queue is gap-free and each sender's messages keep their order.
TEST_P(RelayStoreTest, ConcurrentSendersGetDenseSequenceNumbers) {
  ASSERT_OK_AND_ASSIGN(auto first, RelayStore::create(relay_config()));
  ASSERT_OK_AND_ASSIGN(auto second, RelayStore::create(relay_config()));
  auto devices = add_devices(*first, 6);
  const Bytes group = id_bytes("busy");
  ASSERT_OK(first->create_group(group, devices));
  constexpr int kSenders = 4;
  constexpr int kEach = 25;
  std::vector<std::thread> threads;
  for (int s = 0; s < kSenders; ++s) {
    threads.emplace_back([&, s] {
      RelayStore& store = s % 2 == 0 ? *first : *second;
      for (int n = 0; n < kEach; ++n) {
        auto sent = store.send_message(message_from(devices[static_cast<std::size_t>(s)], group,
                                                    "m" + std::to_string(n), std::to_string(s) + ":" + std::to_string(n)));
        ASSERT_TRUE(sent.has_value()) << sent.error().to_string() << " " << last_error_detail();
        EXPECT_EQ(sent->status, SendStatus::kQueued);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (std::size_t d = kSenders; d < devices.size(); ++d) {
    ASSERT_OK_AND_ASSIGN(auto queued, first->fetch(devices[d], 0, 1000));
    ASSERT_EQ(queued.size(), static_cast<std::size_t>(kSenders * kEach));
    std::map<int, int> next_from;
    for (std::size_t i = 0; i < queued.size(); ++i) {
      EXPECT_EQ(queued[i].seq, static_cast<std::int64_t>(i + 1));
      std::string body(as_string(queued[i].body));
      int sender = std::stoi(body.substr(0, body.find(':')));
      int n = std::stoi(body.substr(body.find(':') + 1));
      EXPECT_EQ(n, next_from[sender]++) << "per-sender order";
    }
  }
}

TEST_P(RelayStoreTest, ResendWithTheSameIdIsNotQueuedTwice) {
  ASSERT_OK_AND_ASSIGN(auto store, RelayStore::create(relay_config()));
  auto devices = add_devices(*store, 3);
  const Bytes group = id_bytes("g");
  ASSERT_OK(store->create_group(group, devices));
  auto message = message_from(devices[0], group, "client-id-1", "once");
  ASSERT_OK_AND_ASSIGN(auto sent, store->send_message(message));
  EXPECT_EQ(sent.status, SendStatus::kQueued);
  EXPECT_EQ(sent.recipients, 2);
  ASSERT_OK_AND_ASSIGN(sent, store->send_message(message));
  EXPECT_EQ(sent.status, SendStatus::kDuplicate);
  // Concurrent resends through the async interface: still one entry.
  std::atomic<int> duplicates{0};
  std::vector<std::promise<void>> done(8);
  for (auto& promise : done) {
    store->send_message_async(message, [&](ErrorOr<SendResult> result) {
      EXPECT_TRUE(result.has_value());
      if (result.has_value() && result->status == SendStatus::kDuplicate) ++duplicates;
      promise.set_value();
    });
  }
  for (auto& promise : done) promise.get_future().wait();
  EXPECT_EQ(duplicates.load(), 8);
  // The same client id from another sender is another message.
  ASSERT_OK_AND_ASSIGN(sent, store->send_message(message_from(devices[1], group, "client-id-1", "other")));
  EXPECT_EQ(sent.status, SendStatus::kQueued);
  ASSERT_OK_AND_ASSIGN(auto queued, store->fetch(devices[2], 0, 10));
  ASSERT_EQ(queued.size(), 2u);
  EXPECT_EQ(queued[0].body, id_bytes("once"));
  EXPECT_EQ(queued[1].body, id_bytes("other"));
}

TEST_P(RelayStoreTest, RetentionExpiresOldMessagesAndReleasesDeliveredBodies) {
  auto now = std::make_shared<std::atomic<std::int64_t>>(1'700'000'000'000);
  RelayStoreConfig config = relay_config();
  config.retention = std::chrono::hours(24 * 30);
  config.clock = [now] { return TimePoint(std::chrono::milliseconds(now->load())); };
  ASSERT_OK_AND_ASSIGN(auto store, RelayStore::create(config));
  auto devices = add_devices(*store, 2);
  const Bytes group = id_bytes("g");
  ASSERT_OK(store->create_group(group, devices));
  ASSERT_OK(store->send_message(message_from(devices[0], group, "old", "old")));
  ASSERT_OK(store->send_message(message_from(devices[0], group, "second", "second")));
  ASSERT_OK(store->ack(devices[1], 0));  // nothing
  *now += std::chrono::milliseconds(std::chrono::hours(24 * 20)).count();
  ASSERT_OK(store->send_message(message_from(devices[0], group, "new", "new")));
  // Day 20: nothing is past retention, and nothing is acked.
  ASSERT_OK_AND_ASSIGN(auto report, store->expire());
  EXPECT_EQ(report.queue_entries, 0);
  EXPECT_EQ(report.messages, 0);
  EXPECT_EQ(report.bodies_released, 0);

  // Day 31: the first two are past retention, the third is not.
  *now += std::chrono::milliseconds(std::chrono::hours(24 * 11)).count();
  ASSERT_OK_AND_ASSIGN(report, store->expire());
  EXPECT_EQ(report.queue_entries, 2);
  EXPECT_EQ(report.messages, 2);
  ASSERT_OK_AND_ASSIGN(auto queued, store->fetch(devices[1], 0, 10));
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].body, id_bytes("new"));
  // Once expired, an id no longer deduplicates.
  ASSERT_OK_AND_ASSIGN(auto resent, store->send_message(message_from(devices[0], group, "old", "old again")));
  EXPECT_EQ(resent.status, SendStatus::kQueued);

  // Everything acked: bodies are dropped, ids stay for deduplication.
  ASSERT_OK(store->ack(devices[1], 100));
  ASSERT_OK_AND_ASSIGN(report, store->expire());
  EXPECT_EQ(report.bodies_released, 2);
  EXPECT_EQ(report.messages, 0);
  ASSERT_OK_AND_ASSIGN(resent, store->send_message(message_from(devices[0], group, "new", "new")));
  EXPECT_EQ(resent.status, SendStatus::kDuplicate);
}

TEST_P(RelayStoreTest, AttachmentQuotaCountsOnlyTheOwnersUnexpiredBlobs) {
  auto now = std::make_shared<std::atomic<std::int64_t>>(1'700'000'000'000);
  RelayStoreConfig config = relay_config();
  config.clock = [now] { return TimePoint(std::chrono::milliseconds(now->load())); };
  ASSERT_OK_AND_ASSIGN(auto store, RelayStore::create(config));
  using Put = RelayStore::AttachmentPut;
  Bytes kilobyte(1000, 0x5a);
  auto soon = TimePoint(std::chrono::milliseconds(now->load())) + std::chrono::minutes(1);
  auto later = TimePoint(std::chrono::milliseconds(now->load())) + std::chrono::hours(1);
  ASSERT_OK_AND_ASSIGN(Put put, store->put_attachment(id_bytes("q1"), "d1", kilobyte, soon, 2500));
  EXPECT_EQ(put, Put::kStored);
  ASSERT_OK_AND_ASSIGN(put, store->put_attachment(id_bytes("q2"), "d1", kilobyte, later, 2500));
  EXPECT_EQ(put, Put::kStored);
  ASSERT_OK_AND_ASSIGN(put, store->put_attachment(id_bytes("q3"), "d1", kilobyte, later, 2500));
  EXPECT_EQ(put, Put::kOverQuota) << "2000 used + 1000 > 2500";
  ASSERT_OK_AND_ASSIGN(auto missing, store->attachment(id_bytes("q3")));
  EXPECT_FALSE(missing.has_value()) << "a refused blob is not stored";
  ASSERT_OK_AND_ASSIGN(put, store->put_attachment(id_bytes("q4"), "d2", kilobyte, later, 2500));
  EXPECT_EQ(put, Put::kStored) << "another device has its own quota";
  *now += std::chrono::milliseconds(std::chrono::minutes(2)).count();
  ASSERT_OK_AND_ASSIGN(put, store->put_attachment(id_bytes("q5"), "d1", kilobyte, later, 2500));
  EXPECT_EQ(put, Put::kStored) << "expired blobs no longer count";
}

TEST_P(RelayStoreTest, AttachmentsRoundTripWithSizeLimitAndExpiry) {
  auto now = std::make_shared<std::atomic<std::int64_t>>(1'700'000'000'000);
  RelayStoreConfig config = relay_config();
  config.max_attachment_bytes = 64 * 1024;
  config.clock = [now] { return TimePoint(std::chrono::milliseconds(now->load())); };
  ASSERT_OK_AND_ASSIGN(auto store, RelayStore::create(config));
  Bytes data(64 * 1024);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7 + (i >> 8));
  auto expires = TimePoint(std::chrono::milliseconds(now->load())) + std::chrono::hours(1);
  using Put = RelayStore::AttachmentPut;
  ASSERT_OK_AND_ASSIGN(Put stored, store->put_attachment(id_bytes("a1"), "d1", data, expires));
  EXPECT_EQ(stored, Put::kStored);
  ASSERT_OK_AND_ASSIGN(stored, store->put_attachment(id_bytes("a1"), "d1", data, expires));
  EXPECT_EQ(stored, Put::kIdTaken) << "ids are not overwritten";
  ASSERT_OK_AND_ASSIGN(auto read, store->attachment(id_bytes("a1")));
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(*read, data);

  data.push_back(0);
  auto too_big = store->put_attachment(id_bytes("a2"), "d1", data, expires);
  ASSERT_FALSE(too_big.has_value());
  EXPECT_EQ(too_big.error().category(), ErrorCategory::kInvalidArgument);
  ASSERT_OK_AND_ASSIGN(read, store->attachment(id_bytes("a2")));
  EXPECT_FALSE(read.has_value());

  *now += std::chrono::milliseconds(std::chrono::hours(2)).count();
  ASSERT_OK_AND_ASSIGN(read, store->attachment(id_bytes("a1")));
  EXPECT_FALSE(read.has_value()) << "expired";
  ASSERT_OK_AND_ASSIGN(auto report, store->expire());
  EXPECT_EQ(report.attachments, 1);
}

PMOS_STORE_BACKENDS(RelayStoreTest);

}  // namespace
}  // namespace pmos::store::testing

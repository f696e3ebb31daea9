// Durable enqueue throughput: messages/s into a 1:1 group (one queue entry
// per message), each send durable before it returns, from N concurrent
// writers; group commit against one transaction (one fsync) per send.
//
//   store_bench [--benchmark_filter=Sqlite] ...
// PostgreSQL cases start a throwaway cluster (scripts/pg-throwaway) and are
// skipped if it cannot start. SQLite files go to $TMPDIR (use a real disk:
// on tmpfs an fsync costs nothing).

#include <benchmark/benchmark.h>
#include <malloc.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "pg_throwaway.h"
#include "pmos/store/relay_store.h"

namespace {

using pmos::Bytes;
using namespace pmos::store;

std::unique_ptr<testing::PgThrowaway> g_postgres;
std::filesystem::path g_directory;
std::atomic<std::uint64_t> g_next_id{0};

struct Setup {
  std::unique_ptr<RelayStore> store;
  std::vector<std::string> senders;
  std::string receiver;
};

// One store per configuration, kept for the whole run.
std::map<std::string, Setup> g_setups;

// A fresh relay store named `key` (its own SQLite file or PostgreSQL schema).
std::unique_ptr<RelayStore> open_store(Backend backend, bool group_commit, const std::string& key,
                                       benchmark::State& state) {
  RelayStoreConfig config;
  config.database.backend = backend;
  if (backend == Backend::kSqlite) {
    config.database.location = (g_directory / (key + ".db")).string();
  } else {
    if (g_postgres == nullptr) {
      state.SkipWithError("no PostgreSQL cluster");
      return {};
    }
    // Each configuration in its own schema, so that their tables do not
    // share pages and locks.
    DatabaseConfig admin;
    admin.backend = Backend::kPostgres;
    admin.location = g_postgres->conninfo();
    auto database = Database::create(admin);
    if (!database.has_value()) {
      state.SkipWithError("cannot connect");
      return {};
    }
    std::string name = "bench_" + key.substr(key.find('-') + 1);
    auto schema = (*database)->begin_write();
    if (!schema.has_value() || !schema->execute_script("CREATE SCHEMA " + name).has_value() ||
        !schema->commit().has_value()) {
      state.SkipWithError("cannot create a schema");
      return {};
    }
    config.database.location = g_postgres->conninfo();
    config.database.location += " options='-c search_path=" + name + "'";
  }
  if (!group_commit) config.database.group_commit = {.max_batch = 1, .max_delay = std::chrono::microseconds(0)};
  config.database.max_connections = 8;
  auto store = RelayStore::create(config);
  if (!store.has_value()) {
    state.SkipWithError(("cannot open: " + last_error_detail()).c_str());
    return {};
  }
  return std::move(store).release_value();
}

// Devices prefix-0 .. prefix-(count-1), added to the store as senders.
void add_senders(Setup& setup, const std::string& prefix, int count) {
  for (int i = 0; i < count; ++i) {
    std::string id = prefix + "-" + std::to_string(i);
    (void)setup.store->add_device(Device{id, "u", pmos::to_bytes(id), false});
    setup.senders.push_back(id);
  }
}

Setup* setup_for(Backend backend, bool group_commit, benchmark::State& state) {
  std::string key = std::string(to_string(backend)) + (group_commit ? "-group" : "-single");
  auto it = g_setups.find(key);
  if (it != g_setups.end()) return &it->second;
  std::unique_ptr<RelayStore> store = open_store(backend, group_commit, key, state);
  if (store == nullptr) return nullptr;
  Setup setup;
  setup.store = std::move(store);
  add_senders(setup, "sender", 64);
  setup.receiver = "receiver";
  (void)setup.store->add_device(Device{setup.receiver, "u", pmos::to_bytes("receiver"), false});
  // One 1:1 group per sender, so that senders do not serialize on one group.
  for (const std::string& sender : setup.senders) {
    std::vector<std::string> members = {sender, setup.receiver};
    (void)setup.store->create_group(pmos::to_bytes("g-" + sender), members);
  }
  return &g_setups.emplace(key, std::move(setup)).first->second;
}

// A fresh client message id (resends are not what these benchmarks measure).
Bytes next_message_id() {
  std::uint64_t id = g_next_id++;
  return Bytes(reinterpret_cast<const std::uint8_t*>(&id), reinterpret_cast<const std::uint8_t*>(&id) + sizeof id);
}

void BM_DurableEnqueue(benchmark::State& state, Backend backend, bool group_commit) {
  static std::mutex setup_mutex;
  Setup* setup;
  {
    std::lock_guard lock(setup_mutex);
    setup = setup_for(backend, group_commit, state);
  }
  if (setup == nullptr) return;
  const std::string& sender = setup->senders[static_cast<std::size_t>(state.thread_index()) % setup->senders.size()];
  OutgoingMessage message;
  message.group_id = pmos::to_bytes("g-" + sender);
  message.sender_device = sender;
  message.body = Bytes(256, 0xab);
  for (auto _ : state) {
    message.message_id = next_message_id();
    auto sent = setup->store->send_message(message);
    if (!sent.has_value() || sent->status != SendStatus::kQueued) {
      state.SkipWithError("send failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// What the relay does: many sends in flight at once through the async
// interface (one per connected device), each completing when durable. Each
// iteration keeps 512 in flight across 64 senders and waits for all.
void BM_DurableEnqueueAsync(benchmark::State& state, Backend backend) {
  Setup* setup = setup_for(backend, /*group_commit=*/true, state);
  if (setup == nullptr) return;
  constexpr int kInFlight = 512;
  std::mutex mutex;
  std::condition_variable done;
  for (auto _ : state) {
    int pending = kInFlight;
    bool failed = false;
    for (int i = 0; i < kInFlight; ++i) {
      const std::string& sender = setup->senders[static_cast<std::size_t>(i) % setup->senders.size()];
      OutgoingMessage message;
      message.group_id = pmos::to_bytes("g-" + sender);
      message.sender_device = sender;
      message.body = Bytes(256, 0xab);
      message.message_id = next_message_id();
      setup->store->send_message_async(std::move(message), [&](pmos::ErrorOr<SendResult> result) {
        std::lock_guard lock(mutex);
        if (!result.has_value() || result->status != SendStatus::kQueued) failed = true;
        if (--pending == 0) done.notify_one();
      });
    }
    std::unique_lock lock(mutex);
    done.wait(lock, [&] { return pending == 0; });
    if (failed) {
      state.SkipWithError("send failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kInFlight);
}

// The process's CPU time in microseconds.
double process_cpu_us() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e6 + static_cast<double>(now.tv_nsec) / 1e3;
}

// The store and devices for `key`, made by `make` (which adds groups) on
// first use; null if the store could not be opened.
Setup* cached_setup(const std::string& key, Backend backend, benchmark::State& state, const char* prefix,
                    const std::function<void(Setup&)>& make) {
  if (auto it = g_setups.find(key); it != g_setups.end()) return &it->second;
  std::unique_ptr<RelayStore> store = open_store(backend, /*group_commit=*/true, key, state);
  if (store == nullptr) return nullptr;
  Setup setup;
  setup.store = std::move(store);
  add_senders(setup, prefix, 200);
  make(setup);
  return &g_setups.emplace(key, std::move(setup)).first->second;
}

// What the relay does for 1:1 chat, whole: 100 pairs of devices, each
// delivery a durable send and then the recipient's ack of it, with 512
// deliveries in flight at once (as from 200 connected devices). Reports the
// process's CPU time per delivery: the group commit writer's cost (this
// thread only waits).
void BM_RelayPairs(benchmark::State& state, Backend backend) {
  Setup* setup = cached_setup(std::string(to_string(backend)) + "-pairs", backend, state, "device", [](Setup& pairs) {
    for (std::size_t i = 0; i < pairs.senders.size(); i += 2) {
      std::vector<std::string> members = {pairs.senders[i], pairs.senders[i + 1]};
      (void)pairs.store->create_group(pmos::to_bytes("pair-" + std::to_string(i)), members);
    }
  });
  if (setup == nullptr) return;
  constexpr int kInFlight = 512;
  std::mutex mutex;
  std::condition_variable done;
  const double cpu_start = process_cpu_us();
  for (auto _ : state) {
    int pending = kInFlight;
    bool failed = false;
    auto finish = [&](bool ok) {
      std::lock_guard lock(mutex);
      if (!ok) failed = true;
      if (--pending == 0) done.notify_one();
    };
    for (int i = 0; i < kInFlight; ++i) {
      int pair = (i % 100) * 2;
      bool forth = (i / 100) % 2 == 0;
      const std::string& sender = setup->senders[static_cast<std::size_t>(pair + (forth ? 0 : 1))];
      std::string receiver = setup->senders[static_cast<std::size_t>(pair + (forth ? 1 : 0))];
      OutgoingMessage message;
      message.group_id = pmos::to_bytes("pair-" + std::to_string(pair));
      message.sender_device = sender;
      message.body = Bytes(200, 0xab);
      message.message_id = next_message_id();
      setup->store->send_message_async(
          std::move(message), [&, receiver](pmos::ErrorOr<SendResult> result) {
            if (!result.has_value() || result->status != SendStatus::kQueued || result->queued.size() != 1) {
              finish(false);
              return;
            }
            setup->store->ack_async(receiver, result->queued[0].seq,
                                    [&](pmos::ErrorOr<std::int64_t> acked) { finish(acked.has_value()); });
          });
    }
    std::unique_lock lock(mutex);
    done.wait(lock, [&] { return pending == 0; });
    if (failed) {
      state.SkipWithError("send or ack failed");
      break;
    }
  }
  const double cpu_us = process_cpu_us() - cpu_start;
  state.SetItemsProcessed(state.iterations() * kInFlight);
  state.counters["cpu_us_per_delivery"] =
      cpu_us / static_cast<double>(std::max<std::int64_t>(1, state.iterations() * kInFlight));
}

// Groups of 100: each send queued for the 99 other members (no acks),
// 32 sends in flight. Items are deliveries (queue entries), as in
// RelayPairs512, with the process's CPU time per delivery.
void BM_GroupFanOut(benchmark::State& state, Backend backend) {
  Setup* setup = cached_setup(std::string(to_string(backend)) + "-groups", backend, state, "member", [](Setup& groups) {
    for (std::size_t g = 0; g < 2; ++g) {
      std::vector<std::string> members(groups.senders.begin() + static_cast<std::ptrdiff_t>(g * 100),
                                       groups.senders.begin() + static_cast<std::ptrdiff_t>(g * 100 + 100));
      (void)groups.store->create_group(pmos::to_bytes("group-" + std::to_string(g)), members);
    }
  });
  if (setup == nullptr) return;
  constexpr int kInFlight = 32;
  std::mutex mutex;
  std::condition_variable done;
  std::int64_t deliveries = 0;
  const double cpu_start = process_cpu_us();
  for (auto _ : state) {
    int pending = kInFlight;
    bool failed = false;
    for (int i = 0; i < kInFlight; ++i) {
      const std::size_t group = static_cast<std::size_t>(i % 2);
      OutgoingMessage message;
      message.group_id = pmos::to_bytes("group-" + std::to_string(group));
      message.sender_device = setup->senders[group * 100 + static_cast<std::size_t>(i / 2)];
      message.body = Bytes(200, 0xab);
      message.message_id = next_message_id();
      setup->store->send_message_async(std::move(message), [&](pmos::ErrorOr<SendResult> result) {
        std::lock_guard lock(mutex);
        if (!result.has_value() || result->status != SendStatus::kQueued || result->queued.size() != 99)
          failed = true;
        else
          deliveries += 99;
        if (--pending == 0) done.notify_one();
      });
    }
    std::unique_lock lock(mutex);
    done.wait(lock, [&] { return pending == 0; });
    if (failed) {
      state.SkipWithError("send failed");
      break;
    }
  }
  const double cpu_us = process_cpu_us() - cpu_start;
  state.SetItemsProcessed(deliveries);
  state.counters["cpu_us_per_delivery"] = cpu_us / static_cast<double>(std::max<std::int64_t>(1, deliveries));
}

}  // namespace

int main(int argc, char** argv) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/pmos-store-bench.XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) return 1;
  g_directory = pattern;
  // As pmos-server run does (docs/server.md): SQLite's page cache churn
  // would otherwise be handed back to the kernel and faulted in again.
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  auto cluster = testing::PgThrowaway::start(PMOS_SOURCE_DIR "/scripts/pg-throwaway");
  if (cluster.has_value()) g_postgres = std::move(cluster).release_value();

  for (Backend backend : {Backend::kSqlite, Backend::kPostgres}) {
    for (bool group_commit : {true, false}) {
      std::string name = std::string("DurableEnqueue/") + std::string(to_string(backend)) +
                         (group_commit ? "/group_commit" : "/txn_per_send");
      auto* bench = benchmark::RegisterBenchmark(name.c_str(), BM_DurableEnqueue, backend, group_commit);
      bench->UseRealTime()->MinTime(2.0);
      bench->Threads(1)->Threads(8);
      if (group_commit) bench->Threads(32);
    }
  }
  for (Backend backend : {Backend::kSqlite, Backend::kPostgres}) {
    std::string name = std::string("DurableEnqueueAsync512/") + std::string(to_string(backend));
    benchmark::RegisterBenchmark(name.c_str(), BM_DurableEnqueueAsync, backend)->UseRealTime()->MinTime(2.0);
  }
  for (Backend backend : {Backend::kSqlite, Backend::kPostgres}) {
    std::string name = std::string("RelayPairs512/") + std::string(to_string(backend));
    benchmark::RegisterBenchmark(name.c_str(), BM_RelayPairs, backend)->UseRealTime()->MinTime(3.0);
    name = std::string("GroupFanOut100/") + std::string(to_string(backend));
    benchmark::RegisterBenchmark(name.c_str(), BM_GroupFanOut, backend)->UseRealTime()->MinTime(3.0);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_setups.clear();
  g_postgres.reset();
  std::filesystem::remove_all(g_directory);
  return 0;
}

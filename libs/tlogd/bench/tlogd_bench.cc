// Durable appends per second through the log (issue 7's performance goal),
// on SQLite in $TMPDIR (which must be a real disk for the number to mean
// anything): `in_flight` appends outstanding at a time through
// append_async, as an asynchronous front end would keep them.
#include <benchmark/benchmark.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include <atomic>
#include <thread>
#include <vector>

#include "pmos/tlog/proof.h"
#include "pmos/tlogd/client.h"
#include "pmos/tlogd/http.h"
#include "pmos/tlogd/log.h"
#include "test_pki.h"
#include "transaction_hash_reader.h"

namespace {

using namespace pmos;

void BM_DurableAppend(benchmark::State& state) {
  const auto in_flight = static_cast<std::size_t>(state.range(0));
  std::string pattern = (std::filesystem::temp_directory_path() / "pmos-tlogd-bench.XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    state.SkipWithError("mkdtemp");
    return;
  }
  {
    store::DatabaseConfig config;
    config.location = pattern + "/log.db";
    config.group_commit.max_batch = static_cast<std::size_t>(state.range(1));
    auto database = store::Database::create(config).value();
    auto log = tlogd::Log::open(*database, tlog::Ed25519NoteSigner::generate("bench/log").value()).value();
    const Bytes entry(256, 'e');
    std::mutex mutex;
    std::condition_variable cv;
    std::size_t outstanding = 0;
    bool failed = false;
    for (auto _ : state) {
      std::unique_lock lock(mutex);
      cv.wait(lock, [&] { return outstanding < in_flight; });
      ++outstanding;
      lock.unlock();
      log->append_async(entry, [&](ErrorOr<std::uint64_t> index) {
        std::lock_guard done(mutex);
        if (!index) failed = true;
        --outstanding;
        cv.notify_all();
      });
    }
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return outstanding == 0; });
    if (failed) state.SkipWithError("append failed");
    state.SetItemsProcessed(state.iterations());
    lock.unlock();
    auto start = std::chrono::steady_clock::now();
    auto size = log->integrate_all();
    auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (size && seconds > 0) state.counters["integrate_per_s"] = static_cast<double>(*size) / seconds;
  }
  std::filesystem::remove_all(pattern);
}
BENCHMARK(BM_DurableAppend)->Args({1, 256})->Args({64, 256})->Args({512, 256})->Args({4096, 4096})
    ->UseRealTime()->MinTime(3.0);

// The same through the service's front door: POST /add over HTTPS (TLS 1.3,
// kept-alive connections) on 127.0.0.1, `clients` client threads each with
// one request outstanding, the server with as many I/O threads (a POST /add
// holds its thread for the group commit: tlogd/http.h). Client and server
// share the machine's two cores.
void BM_HttpAppend(benchmark::State& state) {
  const auto clients = static_cast<int>(state.range(0));
  std::string pattern = (std::filesystem::temp_directory_path() / "pmos-tlogd-bench.XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    state.SkipWithError("mkdtemp");
    return;
  }
  {
    store::DatabaseConfig config;
    config.location = pattern + "/log.db";
    auto database = store::Database::create(config).value();
    auto log = tlogd::Log::open(*database, tlog::Ed25519NoteSigner::generate("bench/log").value()).value();
    net::Router router;
    (void)tlogd::add_http_routes(router, *log, tlogd::HttpOptions{.add_token = "bench-token"});
    auto server = net::testing::start_server(std::move(router), [&](net::ServerConfig& server_config) {
      server_config.threads = clients;
    });
    const Bytes entry(256, 'e');
    std::atomic<std::int64_t> done{0};
    std::atomic<bool> failed{false};
    for (auto _ : state) {
      // One round: every client appends `kPerClient` entries.
      constexpr int kPerClient = 200;
      std::vector<std::thread> threads;
      for (int c = 0; c < clients; ++c) {
        threads.emplace_back([&] {
          auto client = tlogd::LogClient::connect(net::testing::pki().client_tls(nullptr),
                                                  tlogd::LogUrl{"127.0.0.1", server->port(), ""});
          if (!client) {
            failed = true;
            return;
          }
          for (int i = 0; i < kPerClient; ++i) {
            if (!(*client)->add(entry, "bench-token")) failed = true;
          }
          done += kPerClient;
        });
      }
      for (std::thread& thread : threads) thread.join();
    }
    if (failed) state.SkipWithError("append failed");
    state.SetItemsProcessed(done.load());
    server->shutdown(std::chrono::seconds(5));
  }
  std::filesystem::remove_all(pattern);
}
BENCHMARK(BM_HttpAppend)->Arg(16)->Arg(64)->UseRealTime()->Unit(benchmark::kMillisecond)->MinTime(3.0);

// Inclusion proofs/s from the stored tree (SQLite, tlog_nodes), as a server
// answering proof requests would compute them: O(log n) primary key
// lookups in one read transaction per proof.
void BM_StoredInclusionProof(benchmark::State& state) {
  const auto size = static_cast<std::uint64_t>(state.range(0));
  std::string pattern = (std::filesystem::temp_directory_path() / "pmos-tlogd-bench.XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    state.SkipWithError("mkdtemp");
    return;
  }
  {
    store::DatabaseConfig config;
    config.location = pattern + "/log.db";
    config.group_commit.max_batch = 4096;
    auto database = store::Database::create(config).value();
    tlogd::LogConfig log_config;
    log_config.max_integrate_batch = 1 << 20;
    auto log = tlogd::Log::open(*database, tlog::Ed25519NoteSigner::generate("bench/log").value(), log_config)
                   .value();
    std::mutex mutex;
    std::condition_variable cv;
    std::size_t outstanding = 0;
    for (std::uint64_t i = 0; i < size; ++i) {
      std::unique_lock lock(mutex);
      cv.wait(lock, [&] { return outstanding < 4096; });
      ++outstanding;
      lock.unlock();
      Bytes entry(16, 'e');
      for (int b = 0; b < 8; ++b) entry[b] = static_cast<std::uint8_t>(i >> (8 * b));
      log->append_async(std::move(entry), [&](ErrorOr<std::uint64_t>) {
        std::lock_guard guard(mutex);
        --outstanding;
        cv.notify_all();
      });
    }
    {
      std::unique_lock lock(mutex);
      cv.wait(lock, [&] { return outstanding == 0; });
    }
    if (log->integrate_all().value() != size) {
      state.SkipWithError("integration");
      return;
    }
    std::uint64_t index = 0;
    for (auto _ : state) {
      auto transaction = database->begin_read().value();
      auto proof = tlog::inclusion_proof(tlogd::TransactionHashReader(transaction), index, size);
      benchmark::DoNotOptimize(proof);
      index = (index + 7919) % size;
    }
    state.SetItemsProcessed(state.iterations());
  }
  std::filesystem::remove_all(pattern);
}
BENCHMARK(BM_StoredInclusionProof)->Arg(1 << 20)->Unit(benchmark::kMicrosecond)->MinTime(3.0);

}  // namespace

BENCHMARK_MAIN();

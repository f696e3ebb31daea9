// Durable appends per second through the log (issue 7's performance goal),
// on SQLite in $TMPDIR (which must be a real disk for the number to mean
// anything): `in_flight` appends outstanding at a time through
// append_async, as an asynchronous front end would keep them.
#include <benchmark/benchmark.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "pmos/tlogd/log.h"

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

}  // namespace

BENCHMARK_MAIN();

// Proof generation and tree hashing. Run in the release preset:
//   build/release/libs/tlog/tlog_bench
// The 10M-entry store needs about 640 MB and a few seconds to build; it is
// built once, on first use, and shared by the benchmarks that need it.
#include <map>
#include <memory>
#include <random>

#include <benchmark/benchmark.h>

#include "pmos/tlog/memory_hash_store.h"
#include "pmos/tlog/merkle.h"
#include "pmos/tlog/proof.h"

namespace pmos::tlog {
namespace {

Hash synthetic_leaf(std::uint64_t i) {
  // Distinct leaf hashes without paying for SHA-256 during setup: the
  // interior nodes are still real hashes.
  Hash h{};
  for (int b = 0; b < 8; ++b) h[b] = static_cast<std::uint8_t>(i >> (8 * b));
  h[31] = 0x5a;
  return h;
}

const MemoryHashStore& store_of(std::uint64_t size) {
  static std::map<std::uint64_t, std::unique_ptr<MemoryHashStore>> stores;
  auto& store = stores[size];
  if (!store) {
    store = std::make_unique<MemoryHashStore>();
    store->reserve(size);
    for (std::uint64_t i = 0; i < size; ++i) store->append(synthetic_leaf(i));
  }
  return *store;
}

void BM_InclusionProof(benchmark::State& state) {
  const auto size = static_cast<std::uint64_t>(state.range(0));
  const MemoryHashStore& store = store_of(size);
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    auto proof = inclusion_proof(store, rng() % size, size);
    benchmark::DoNotOptimize(proof);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["proofs/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_InclusionProof)->Arg(1'000'000)->Arg(10'000'000);

void BM_ConsistencyProof(benchmark::State& state) {
  const auto size = static_cast<std::uint64_t>(state.range(0));
  const MemoryHashStore& store = store_of(size);
  std::mt19937_64 rng(2);
  for (auto _ : state) {
    auto proof = consistency_proof(store, 1 + rng() % (size - 1), size);
    benchmark::DoNotOptimize(proof);
  }
  state.counters["proofs/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ConsistencyProof)->Arg(1'000'000)->Arg(10'000'000);

void BM_VerifyInclusion(benchmark::State& state) {
  const auto size = static_cast<std::uint64_t>(state.range(0));
  const MemoryHashStore& store = store_of(size);
  const Hash root = tree_hash(store, size).value();
  const std::uint64_t index = size / 3;
  std::vector<Hash> proof = inclusion_proof(store, index, size).value();
  const Hash leaf = synthetic_leaf(index);
  for (auto _ : state) {
    auto ok = verify_inclusion(index, size, leaf, proof, root);
    if (!ok) state.SkipWithError("proof did not verify");
  }
  state.counters["verifies/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_VerifyInclusion)->Arg(1'000'000);

// Integrating entries: leaf hash of a 256-byte entry plus the interior
// nodes it completes (one per entry, amortised).
void BM_AppendEntries(benchmark::State& state) {
  Bytes entry(256, 0x42);
  MemoryHashStore store;
  store.reserve(1 << 24);
  for (auto _ : state) {
    entry[0]++;
    store.append(leaf_hash(entry));
    if (store.size() == (1 << 24)) state.SkipWithError("store full");
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(entry.size()));
}
BENCHMARK(BM_AppendEntries);

void BM_NodeHash(benchmark::State& state) {
  Hash a = synthetic_leaf(1);
  Hash b = synthetic_leaf(2);
  for (auto _ : state) {
    a = node_hash(a, b);
    benchmark::DoNotOptimize(a);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NodeHash);

// The root of a fresh tree of 1M leaves, recomputed from the leaf hashes.
void BM_RootFromLeaves(benchmark::State& state) {
  std::vector<Hash> leaves(static_cast<std::size_t>(state.range(0)));
  for (std::size_t i = 0; i < leaves.size(); ++i) leaves[i] = synthetic_leaf(i);
  for (auto _ : state) {
    Hash root = root_from_leaf_hashes(leaves);
    benchmark::DoNotOptimize(root);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_RootFromLeaves)->Arg(1'000'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pmos::tlog

BENCHMARK_MAIN();

// The MLS half of the national-suite comparison (issue 9): protect +
// unprotect of a 1 KiB application message in a two-member group, suite
// 0xF0A1 (SM2, SM4-GCM, SM3) against suite 0x0001 (Ed25519, AES-128-GCM,
// SHA-256). Linked with libs/crypto/bench/national_bench.cc (which holds
// main()) into `mls_national_bench`, so that one run of one binary prints
// every number docs/benchmarks.md compares.
#include <benchmark/benchmark.h>

#include "pmos/crypto/random.h"
#include "pmos/mls/state.h"

namespace {

using namespace pmos;
using namespace pmos::mls;

KeyPackageBundle bundle(const crypto::CipherSuite& suite, const char* name) {
  auto signer = suite.signature().generate().value();
  return KeyPackageBundle::create(suite, Credential{BasicCredential{to_bytes(name)}}, signer).value();
}

void BM_MlsProtectUnprotect1KiB(benchmark::State& state, std::uint16_t suite_id) {
  auto suite = crypto::CipherSuite::from_id(suite_id).value();
  State alice = State::create(suite, to_bytes("bench"), bundle(suite, "alice")).value();
  KeyPackageBundle bob_bundle = bundle(suite, "bob");
  State::CommitOptions options;
  options.proposals.push_back(Proposal{Add{bob_bundle.key_package}});
  auto result = alice.commit(options).value();
  alice = std::move(result.next);
  State bob = State::join(std::get<Welcome>(result.welcome->message), bob_bundle).value();
  Bytes message = crypto::random_bytes(1024);
  for (auto _ : state) {
    MlsMessage wire = alice.protect(message).value();
    Received received = bob.unprotect(wire).value();
    benchmark::DoNotOptimize(received.application_data.data());
  }
}

BENCHMARK_CAPTURE(BM_MlsProtectUnprotect1KiB, Suite0xF0A1, std::uint16_t{0xF0A1});
BENCHMARK_CAPTURE(BM_MlsProtectUnprotect1KiB, Suite0x0001, std::uint16_t{0x0001});

}  // namespace

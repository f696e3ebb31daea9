// The national suite (issue 9) beside its international counterparts, all
// through the PMOS API, in one binary and one run: SM4-GCM vs AES-128-GCM,
// SM2 sign/verify vs Ed25519 and ECDSA P-256, DHKEM(SM2) vs DHKEM(X25519)
// (and P-256, the same construction on a curve OpenSSL optimises).
#include <benchmark/benchmark.h>

#include "pmos/base/check.h"
#include "pmos/crypto/aead.h"
#include "pmos/crypto/kem.h"
#include "pmos/crypto/random.h"
#include "pmos/crypto/signature.h"

namespace {

using namespace pmos;
using namespace pmos::crypto;

void BM_AeadSeal(benchmark::State& state, const Aead* aead) {
  Bytes key = random_bytes(aead->key_size());
  Bytes nonce = random_bytes(aead->nonce_size());
  Bytes plaintext = random_bytes(static_cast<std::size_t>(state.range(0)));
  Bytes out(plaintext.size() + aead->tag_size());
  for (auto _ : state) {
    key[0]++;  // a fresh key per message, as in MLS's secret tree
    VERIFY(aead->seal_into(key, nonce, {}, plaintext, out).has_value());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void BM_AeadOpen(benchmark::State& state, const Aead* aead) {
  Bytes key = random_bytes(aead->key_size());
  Bytes nonce = random_bytes(aead->nonce_size());
  Bytes plaintext = random_bytes(static_cast<std::size_t>(state.range(0)));
  Bytes ciphertext = aead->seal(key, nonce, {}, plaintext).value();
  Bytes out(plaintext.size());
  for (auto _ : state) {
    VERIFY(aead->open_into(key, nonce, {}, ciphertext, out).has_value());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

BENCHMARK_CAPTURE(BM_AeadSeal, Sm4Gcm, &sm4_gcm())->Arg(1024)->Arg(65536);
BENCHMARK_CAPTURE(BM_AeadSeal, Aes128Gcm, &aes128_gcm())->Arg(1024)->Arg(65536);
BENCHMARK_CAPTURE(BM_AeadOpen, Sm4Gcm, &sm4_gcm())->Arg(1024)->Arg(65536);
BENCHMARK_CAPTURE(BM_AeadOpen, Aes128Gcm, &aes128_gcm())->Arg(1024)->Arg(65536);

void BM_Sign(benchmark::State& state, const SignatureScheme* scheme) {
  PrivateKey key = scheme->generate().value();
  Bytes message = random_bytes(256);
  for (auto _ : state) benchmark::DoNotOptimize(scheme->sign(key, message).value());
}

void BM_Verify(benchmark::State& state, const SignatureScheme* scheme) {
  PrivateKey key = scheme->generate().value();
  Bytes message = random_bytes(256);
  Bytes signature = scheme->sign(key, message).value();
  for (auto _ : state) VERIFY(scheme->verify(key.public_key(), message, signature).has_value());
}

BENCHMARK_CAPTURE(BM_Sign, Sm2Sm3, &sm2_sm3());
BENCHMARK_CAPTURE(BM_Sign, Ed25519, &ed25519());
BENCHMARK_CAPTURE(BM_Sign, EcdsaP256, &ecdsa_p256_sha256());
BENCHMARK_CAPTURE(BM_Verify, Sm2Sm3, &sm2_sm3());
BENCHMARK_CAPTURE(BM_Verify, Ed25519, &ed25519());
BENCHMARK_CAPTURE(BM_Verify, EcdsaP256, &ecdsa_p256_sha256());

void BM_Encap(benchmark::State& state, const Kem* kem) {
  PrivateKey recipient = kem->generate().value();
  for (auto _ : state) benchmark::DoNotOptimize(kem->encap(recipient.public_key()).value());
}

void BM_Decap(benchmark::State& state, const Kem* kem) {
  PrivateKey recipient = kem->generate().value();
  Bytes enc = kem->encap(recipient.public_key()).value().enc;
  for (auto _ : state) benchmark::DoNotOptimize(kem->decap(enc, recipient).value());
}

BENCHMARK_CAPTURE(BM_Encap, DhkemSm2, &dhkem_sm2());
BENCHMARK_CAPTURE(BM_Encap, DhkemX25519, &dhkem_x25519());
BENCHMARK_CAPTURE(BM_Encap, DhkemP256, &dhkem_p256());
BENCHMARK_CAPTURE(BM_Decap, DhkemSm2, &dhkem_sm2());
BENCHMARK_CAPTURE(BM_Decap, DhkemX25519, &dhkem_x25519());
BENCHMARK_CAPTURE(BM_Decap, DhkemP256, &dhkem_p256());

}  // namespace

BENCHMARK_MAIN();

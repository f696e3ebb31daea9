// Fuzzes everything in libs/crypto that parses bytes from outside: KEM and
// signature public keys (points on and off curves), DER signatures, HPKE
// encapsulations and ciphertexts. Property: no crash, no out-of-bounds read,
// and nothing forged ever verifies or decrypts.
#include <cstdlib>
#include <vector>

#include "pmos/crypto/cipher_suite.h"

using namespace pmos;
using namespace pmos::crypto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  static const Bytes kIkm(64, 0x42);
  // Every registered suite: the seven RFC 9420 ones and the private-use
  // national suite 0xF0A1 (SM2 points, DER SM2 signatures, SM4-GCM).
  static const std::vector<std::uint16_t> kIds = [] {
    std::vector<std::uint16_t> ids = CipherSuite::supported_ids();
    for (std::uint16_t id : CipherSuite::private_use_ids()) ids.push_back(id);
    return ids;
  }();
  std::size_t slot = data[0] % kIds.size();
  auto suite = CipherSuite::from_id(kIds[slot]).value();
  BytesView input(data + 1, size - 1);

  (void)suite.kem().public_key(input);
  (void)suite.signature().public_key(input);

  static PrivateKey signer[16];
  static PrivateKey recipient[16];
  if (slot >= 16) std::abort();
  if (signer[slot].empty()) {
    signer[slot] = suite.signature().generate().value();
    recipient[slot] = suite.kem().derive_key_pair(kIkm).value();
  }
  if (suite.verify_with_label(signer[slot].public_key(), "fuzz", to_bytes("m"), input).has_value()) std::abort();

  std::size_t enc_size = suite.kem().enc_size();
  if (input.size() >= enc_size) {
    auto opened = suite.decrypt_with_label(recipient[slot], "fuzz", {}, input.first(enc_size),
                                           input.subspan(enc_size));
    if (opened.has_value()) std::abort();
  }
  return 0;
}

#pragma once

// Helpers shared by the national-suite tests: HPKE's labelled KDF written
// again over the public Hash API (so that DHKEM and key-schedule outputs are
// checked by a second construction, not by the code under test), and
// one-shot ciphers straight from OpenSSL and Botan for the reference modes
// PMOS does not wrap.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <botan/aead.h>
#include <botan/exceptn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "pmos/base/bytes.h"
#include "pmos/base/openssl_ptr.h"
#include "pmos/crypto/hash.h"

namespace pmos::crypto::national_test {

inline Bytes concat(std::initializer_list<BytesView> parts) {
  Bytes out;
  for (BytesView part : parts) append(out, part);
  return out;
}

inline Bytes u16(std::uint16_t value) {
  return {static_cast<std::uint8_t>(value >> 8), static_cast<std::uint8_t>(value)};
}

// RFC 9180 §4 LabeledExtract / LabeledExpand.
inline Bytes labeled_extract(const Hash& h, BytesView suite_id, BytesView salt, std::string_view label,
                             BytesView ikm) {
  Bytes key = salt.empty() ? Bytes(h.size(), 0) : to_bytes(salt);
  return h.hmac(key, concat({as_bytes("HPKE-v1"), suite_id, as_bytes(label), ikm}));
}
inline Bytes labeled_expand(const Hash& h, BytesView suite_id, BytesView prk, std::string_view label,
                            BytesView info, std::uint16_t length) {
  Bytes labeled_info = concat({u16(length), as_bytes("HPKE-v1"), suite_id, as_bytes(label), info});
  // HKDF-Expand (RFC 5869 §2.3), written out: T(i) = HMAC(PRK, T(i-1) | info | i).
  Bytes okm, block;
  for (std::uint8_t i = 1; okm.size() < length; ++i) {
    block = h.hmac(prk, concat({block, labeled_info, BytesView(&i, 1)}));
    append(okm, block);
  }
  okm.resize(length);
  return okm;
}

// A cipher from OpenSSL by name ("SM4-CBC" ...), no padding, one shot.
inline Bytes openssl_crypt(const char* name, BytesView key, BytesView iv, BytesView in, bool encrypt) {
  EvpCipherPtr cipher(EVP_CIPHER_fetch(nullptr, name, nullptr));
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!cipher || !ctx) return {};
  Bytes out(in.size() + 32);
  int length = 0, final_length = 0;
  if (EVP_CipherInit_ex2(ctx.get(), cipher.get(), key.data(), iv.empty() ? nullptr : iv.data(), encrypt ? 1 : 0,
                         nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx.get(), 0) != 1 ||
      EVP_CipherUpdate(ctx.get(), out.data(), &length, in.data(), static_cast<int>(in.size())) != 1 ||
      EVP_CipherFinal_ex(ctx.get(), out.data() + length, &final_length) != 1)
    return {};
  out.resize(static_cast<std::size_t>(length + final_length));
  return out;
}

// A Botan cipher mode or AEAD ("SM4/XTS", "SM4/CCM(16,3)" ...), one shot;
// nullopt if Botan refuses the parameters or (AEADs) the tag.
inline std::optional<Bytes> botan_crypt(const std::string& algorithm, bool encrypt, BytesView key, BytesView nonce,
                                        BytesView aad, BytesView in) {
  try {
    auto mode = Botan::Cipher_Mode::create(algorithm, encrypt ? Botan::ENCRYPTION : Botan::DECRYPTION);
    if (!mode) return std::nullopt;
    mode->set_key(key.data(), key.size());
    if (auto* aead = dynamic_cast<Botan::AEAD_Mode*>(mode.get())) aead->set_associated_data(aad.data(), aad.size());
    mode->start(nonce.data(), nonce.size());
    Botan::secure_vector<std::uint8_t> buffer(in.begin(), in.end());
    mode->finish(buffer);
    return Bytes(buffer.begin(), buffer.end());
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// An OpenSSL EVP_PKEY of type SM2 from an uncompressed point, for checking
// PMOS's signatures with OpenSSL's own SM2 verification.
inline EvpPkeyPtr openssl_sm2_public(BytesView point) {
  std::unique_ptr<OSSL_PARAM_BLD, FnDeleter<OSSL_PARAM_BLD_free>> builder(OSSL_PARAM_BLD_new());
  OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, "SM2", 0);
  OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  std::unique_ptr<OSSL_PARAM, FnDeleter<OSSL_PARAM_free>> params(OSSL_PARAM_BLD_to_param(builder.get()));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "SM2", nullptr));
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return {};
  return EvpPkeyPtr(raw);
}

}  // namespace pmos::crypto::national_test

#include "pmos/crypto/hash.h"

#include <algorithm>
#include <string>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "pmos/base/check.h"
#include "pmos/base/openssl_ptr.h"

namespace pmos::crypto {

Hash::Hash(std::string_view openssl_name, std::uint16_t kdf_id) : kdf_id_(kdf_id) {
  std::string name(openssl_name);
  md_ = EVP_MD_fetch(nullptr, name.c_str(), nullptr);
  VERIFY(md_ != nullptr);
  size_ = static_cast<std::size_t>(EVP_MD_get_size(md_));

  // Fetching HMAC and resolving the digest name costs more than hashing a
  // short input, so it happens once here; each call duplicates this context.
  EvpMacPtr mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  VERIFY(mac != nullptr);
  hmac_prototype_ = EVP_MAC_CTX_new(mac.get());
  VERIFY(hmac_prototype_ != nullptr);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, name.data(), 0),
      OSSL_PARAM_construct_end(),
  };
  VERIFY(EVP_MAC_CTX_set_params(hmac_prototype_, params) == 1);
}

Hash::~Hash() {
  EVP_MAC_CTX_free(hmac_prototype_);
  EVP_MD_free(md_);
}

Bytes Hash::digest(BytesView data) const {
  Bytes out(size_);
  unsigned int length = 0;
  VERIFY(EVP_Digest(data.data(), data.size(), out.data(), &length, md_, nullptr) == 1);
  return out;
}

void Hash::hmac_into(BytesView key, std::initializer_list<BytesView> data,
                     MutableBytesView out) const {
  VERIFY(out.size() == size_);
  EvpMacCtxPtr ctx(EVP_MAC_CTX_dup(hmac_prototype_));
  VERIFY(ctx != nullptr);
  // HMAC accepts any key length, including zero; OpenSSL wants a non-null
  // pointer even then.
  static const std::uint8_t kEmpty = 0;
  VERIFY(EVP_MAC_init(ctx.get(), key.empty() ? &kEmpty : key.data(), key.size(), nullptr) == 1);
  for (BytesView part : data) {
    if (!part.empty()) VERIFY(EVP_MAC_update(ctx.get(), part.data(), part.size()) == 1);
  }
  std::size_t length = 0;
  VERIFY(EVP_MAC_final(ctx.get(), out.data(), &length, out.size()) == 1);
  VERIFY(length == size_);
}

Bytes Hash::hmac(BytesView key, BytesView data) const {
  Bytes out(size_);
  hmac_into(key, {data}, out);
  return out;
}

SecretBytes Hash::extract(BytesView salt, BytesView ikm) const {
  SecretBytes prk(size_);
  if (salt.empty()) {
    // RFC 5869 §2.2: a missing salt is HashLen zeros (an equivalent HMAC key).
    std::uint8_t zeros[EVP_MAX_MD_SIZE] = {};
    hmac_into(BytesView(zeros, size_), {ikm}, prk.mutable_view());
  } else {
    hmac_into(salt, {ikm}, prk.mutable_view());
  }
  return prk;
}

ErrorOr<SecretBytes> Hash::expand(BytesView prk, BytesView info, std::size_t length) const {
  if (length > 255 * size_) return Error::invalid_argument("HKDF-Expand length exceeds 255 * Nh");
  if (prk.size() < size_) return Error::invalid_argument("HKDF-Expand PRK is shorter than Nh");
  SecretBytes okm(length);
  SecretBytes block(size_);
  std::size_t done = 0;
  for (std::uint8_t counter = 1; done < length; ++counter) {
    // T(i) = HMAC(PRK, T(i-1) | info | i); T(0) is empty.
    BytesView previous = counter == 1 ? BytesView{} : block.view();
    hmac_into(prk, {previous, info, BytesView(&counter, 1)}, block.mutable_view());
    std::size_t take = std::min(size_, length - done);
    std::copy_n(block.data(), take, okm.data() + done);
    done += take;
  }
  return okm;
}

const Hash& sha256() {
  static const Hash hash("SHA256", static_cast<std::uint16_t>(KdfId::kHkdfSha256));
  return hash;
}
const Hash& sha384() {
  static const Hash hash("SHA384", static_cast<std::uint16_t>(KdfId::kHkdfSha384));
  return hash;
}
const Hash& sha512() {
  static const Hash hash("SHA512", static_cast<std::uint16_t>(KdfId::kHkdfSha512));
  return hash;
}

const Hash& sm3() {
  static const Hash hash("SM3", static_cast<std::uint16_t>(KdfId::kHkdfSm3));
  return hash;
}

ErrorOr<const Hash*> hash_for_kdf(std::uint16_t kdf_id) {
  switch (static_cast<KdfId>(kdf_id)) {
    case KdfId::kHkdfSha256: return &sha256();
    case KdfId::kHkdfSha384: return &sha384();
    case KdfId::kHkdfSha512: return &sha512();
    case KdfId::kHkdfSm3: return &sm3();
  }
  return Error::unsupported("unknown HPKE KDF id");
}

}  // namespace pmos::crypto

#pragma once

// Private to libs/crypto: building keys and reaching their prepared form.

#include <memory>
#include <utility>

#include "pmos/base/openssl_ptr.h"
#include "pmos/base/secret_bytes.h"
#include "pmos/crypto/keys.h"

namespace pmos::crypto::detail {

// The prepared form used by every OpenSSL-backed algorithm: one EVP_PKEY,
// plus the serialized private key for private keys.
class EvpKeyMaterial final : public KeyMaterial {
 public:
  EvpKeyMaterial(const void* algorithm, EvpPkeyPtr pkey, SecretBytes private_bytes = {})
      : KeyMaterial(algorithm), pkey_(std::move(pkey)), private_bytes_(std::move(private_bytes)) {}
  EVP_PKEY* pkey() const { return pkey_.get(); }
  BytesView private_bytes() const override { return private_bytes_; }

 private:
  EvpPkeyPtr pkey_;
  SecretBytes private_bytes_;
};

struct KeyAccess {
  static PublicKey make_public(Bytes bytes, std::shared_ptr<const KeyMaterial> material) {
    PublicKey key;
    key.bytes_ = std::move(bytes);
    key.material_ = std::move(material);
    return key;
  }
  static PrivateKey make_private(std::shared_ptr<const KeyMaterial> material, PublicKey pub) {
    PrivateKey key;
    key.material_ = std::move(material);
    key.public_ = std::move(pub);
    return key;
  }
  static const KeyMaterial* material(const PublicKey& key) { return key.material_.get(); }
  static const KeyMaterial* material(const PrivateKey& key) { return key.material_.get(); }
};

// The EVP_PKEY of a key made by `algorithm`, or nullptr if the key is empty
// or belongs to another algorithm (using an X25519 key for Ed25519, say).
template <typename Key>
EVP_PKEY* evp_key_of(const Key& key, const void* algorithm) {
  const KeyMaterial* material = KeyAccess::material(key);
  if (material == nullptr || material->algorithm() != algorithm) return nullptr;
  return static_cast<const EvpKeyMaterial*>(material)->pkey();
}

}  // namespace pmos::crypto::detail

#pragma once

#include <memory>

#include "pmos/base/bytes.h"

namespace pmos::crypto {

namespace detail {
// The algorithm's prepared form of a key (an OpenSSL EVP_PKEY, say), made
// once when the key is imported or generated so that no operation re-parses
// it. Immutable once built.
class KeyMaterial {
 public:
  explicit KeyMaterial(const void* algorithm) : algorithm_(algorithm) {}
  virtual ~KeyMaterial() = default;
  // The object (a signature scheme or DH group) that made this key; keys are
  // only ever used with the algorithm that made them.
  const void* algorithm() const { return algorithm_; }
  // The serialized private key (RFC 9180 SerializePrivateKey, MLS's
  // signature private key), or empty for public material. Each kind of
  // material says where it keeps it, so PrivateKey::private_bytes() needs no
  // knowledge of the kinds.
  virtual BytesView private_bytes() const { return {}; }

 private:
  const void* algorithm_;
};
struct KeyAccess;
}  // namespace detail

// A public key (KEM or signature): its wire encoding as MLS and HPKE carry it,
// plus the prepared form. Copies share the immutable prepared form, so a key
// is cheap to copy and safe to use from several threads.
class PublicKey {
 public:
  PublicKey() = default;
  BytesView bytes() const { return bytes_; }
  bool empty() const { return material_ == nullptr; }
  friend bool operator==(const PublicKey& a, const PublicKey& b) { return a.bytes_ == b.bytes_; }

 private:
  friend struct detail::KeyAccess;
  Bytes bytes_;
  std::shared_ptr<const detail::KeyMaterial> material_;
};

// A private key with its public key. The serialized private key (for storing
// state) lives inside the shared prepared form, in SecretBytes that are wiped
// when the last copy goes.
class PrivateKey {
 public:
  PrivateKey() = default;
  const PublicKey& public_key() const { return public_; }
  // The private key's wire form (RFC 9180 SerializePrivateKey; MLS's
  // signature private key encoding). Secret: do not log, wipe copies.
  BytesView private_bytes() const;
  bool empty() const { return material_ == nullptr; }

 private:
  friend struct detail::KeyAccess;
  std::shared_ptr<const detail::KeyMaterial> material_;
  PublicKey public_;
};

}  // namespace pmos::crypto

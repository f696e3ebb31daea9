#include "pmos/crypto/keys.h"

#include "key_access.h"

namespace pmos::crypto {

BytesView PrivateKey::private_bytes() const {
  // Every key type in libs/crypto keeps its serialized private key in an
  // EvpKeyMaterial; a new kind of material must keep this true.
  if (material_ == nullptr) return {};
  return static_cast<const detail::EvpKeyMaterial*>(material_.get())->private_bytes();
}

}  // namespace pmos::crypto

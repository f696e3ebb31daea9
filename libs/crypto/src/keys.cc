#include "pmos/crypto/keys.h"

namespace pmos::crypto {

BytesView PrivateKey::private_bytes() const {
  if (material_ == nullptr) return {};
  return material_->private_bytes();
}

}  // namespace pmos::crypto

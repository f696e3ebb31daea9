#include "pmos/base/secret_bytes.h"

#include <cstring>
#include <utility>

#include <openssl/crypto.h>

namespace pmos {

void secure_zero(MutableBytesView bytes) {
  if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
}

SecretBytes::SecretBytes(std::size_t size)
    : data_(size ? std::make_unique<std::uint8_t[]>(size) : nullptr), size_(size) {}

SecretBytes SecretBytes::copy_of(BytesView bytes) {
  SecretBytes secret(bytes.size());
  if (!bytes.empty()) std::memcpy(secret.data(), bytes.data(), bytes.size());
  return secret;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    clear();
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecretBytes::~SecretBytes() { clear(); }

void SecretBytes::truncate(std::size_t size) {
  if (size >= size_) return;
  secure_zero(mutable_view().subspan(size));
  size_ = size;
}

void SecretBytes::clear() {
  secure_zero(mutable_view());
  data_.reset();
  size_ = 0;
}

}  // namespace pmos

#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "pmos/base/bytes.h"

namespace pmos {

// Bytes that must not outlive their use: keys, secrets, passcodes. The buffer
// is allocated once with a fixed size and never reallocated (so no stale copy
// is left in freed memory), and it is wiped with OPENSSL_cleanse when the
// object is destroyed or moved from. Copies are explicit (clone()).
//
// Not thread-safe; a SecretBytes is owned by one thread at a time.
class SecretBytes {
 public:
  SecretBytes() = default;
  // `size` zero bytes.
  explicit SecretBytes(std::size_t size);
  static SecretBytes copy_of(BytesView bytes);

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  SecretBytes clone() const { return copy_of(view()); }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const std::uint8_t* data() const { return data_.get(); }
  std::uint8_t* data() { return data_.get(); }
  BytesView view() const { return {data_.get(), size_}; }
  MutableBytesView mutable_view() { return {data_.get(), size_}; }
  operator BytesView() const { return view(); }

  // Shrinks to the first `size` bytes, wiping the rest; never grows.
  void truncate(std::size_t size);
  // Wipes and empties.
  void clear();

  // Constant time in the contents.
  friend bool operator==(const SecretBytes& a, const SecretBytes& b) {
    return constant_time_equal(a.view(), b.view());
  }

 private:
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t size_ = 0;
};

// Wipes memory with OPENSSL_cleanse, which the compiler may not elide.
void secure_zero(MutableBytesView bytes);

}  // namespace pmos

#pragma once

// Private to libs/net: a FIFO that costs nothing while empty.
//
// libstdc++'s std::deque allocates a 512-byte node and its map as soon as it
// is constructed, empty or not: ~600 bytes per idle WebSocket for an outgoing
// queue that is almost always empty. This one is a vector read from a moving
// head; it frees its storage whenever it runs empty after holding more than
// a few elements.

#include <cstddef>
#include <utility>
#include <vector>

namespace pmos::net::detail {

template <typename T>
class SmallFifo {
 public:
  bool empty() const { return head_ == items_.size(); }
  std::size_t size() const { return items_.size() - head_; }
  // For tests: elements the storage has room for.
  std::size_t storage_capacity() const { return items_.capacity(); }

  void push_back(T value) { items_.push_back(std::move(value)); }

  // Precondition: !empty().
  T pop_front() {
    T out = std::move(items_[head_++]);
    if (empty()) {
      clear();
    } else if (head_ >= 32 && head_ * 2 >= items_.size()) {
      // A queue that never runs empty must not grow without bound.
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    return out;
  }

  void clear() {
    if (items_.capacity() > kKeep)
      std::vector<T>().swap(items_);
    else
      items_.clear();
    head_ = 0;
  }

 private:
  static constexpr std::size_t kKeep = 4;
  std::vector<T> items_;
  std::size_t head_ = 0;
};

}  // namespace pmos::net::detail

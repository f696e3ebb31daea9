// Fuzzes the strict TLS decoder with a struct that exercises every codec
// kind. Property: whatever decodes re-encodes to exactly the input (the
// encoding is canonical), and nothing crashes or reads out of bounds.
#include <cstdlib>

#include "pmos/base/codec.h"

namespace {

enum class Kind : std::uint16_t { kA = 1, kB = 2 };
bool tls_enum_valid(Kind k) { return k == Kind::kA || k == Kind::kB; }

struct Leaf {
  Kind kind = Kind::kA;
  pmos::Bytes data;
  std::optional<std::uint32_t> number;
  static auto tls_fields(auto& self) { return std::tie(self.kind, self.data, self.number); }
};

struct Root {
  std::uint8_t version = 0;
  std::array<std::uint8_t, 3> fixed{};
  std::vector<Leaf> leaves;
  std::vector<std::vector<std::uint16_t>> nested;
  std::optional<Leaf> extra;
  std::uint64_t tail = 0;
  static auto tls_fields(auto& self) {
    return std::tie(self.version, self.fixed, self.leaves, self.nested, self.extra, self.tail);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pmos::BytesView input(data, size);
  auto root = pmos::tls::decode<Root>(input);
  if (root.has_value()) {
    pmos::Bytes again = pmos::tls::encode(*root);
    if (again.size() != size || !std::equal(again.begin(), again.end(), input.begin())) std::abort();
  }
  (void)pmos::tls::decode<std::vector<Leaf>>(input);
  (void)pmos::tls::decode_varint(input);
  return 0;
}

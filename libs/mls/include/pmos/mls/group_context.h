#pragma once

// The summary of a group's state that every member agrees on in an epoch
// (RFC 9420 §8.1). Plain data, copyable, not synchronised.

#include <compare>
#include <cstdint>
#include <tuple>

#include "pmos/base/codec.h"
#include "pmos/mls/extension.h"
#include "pmos/mls/types.h"

namespace pmos::mls {

struct GroupContext {
  ProtocolVersion version = ProtocolVersion::kMls10;
  CipherSuiteId cipher_suite{};
  Bytes group_id;  // opaque<V>
  std::uint64_t epoch = 0;
  Bytes tree_hash;                  // opaque<V>
  Bytes confirmed_transcript_hash;  // opaque<V>
  ExtensionList extensions;

  static auto tls_fields(auto& self) {
    return std::tie(self.version, self.cipher_suite, self.group_id, self.epoch, self.tree_hash,
                    self.confirmed_transcript_hash, self.extensions);
  }
  friend bool operator==(const GroupContext&, const GroupContext&) = default;
};

}  // namespace pmos::mls

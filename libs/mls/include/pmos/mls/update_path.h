#pragma once

// The path a committer sends to refresh its direct path (RFC 9420 §7.6).
// Plain data, copyable, not synchronised.

#include <compare>
#include <tuple>
#include <vector>

#include "pmos/base/codec.h"
#include "pmos/crypto/cipher_suite.h"
#include "pmos/mls/leaf_node.h"
#include "pmos/mls/types.h"

namespace pmos::mls {

// The output of EncryptWithLabel (RFC `HPKECiphertext`, §7.6), defined by
// libs/crypto with its wire fields.
using HpkeCiphertext = crypto::HpkeCiphertext;

// A new public key for one node of the filtered direct path, and its path
// secret encrypted to each node of the copath node's resolution.
struct UpdatePathNode {
  HpkePublicKey encryption_key;
  std::vector<HpkeCiphertext> encrypted_path_secret;

  static auto tls_fields(auto& self) { return std::tie(self.encryption_key, self.encrypted_path_secret); }
  friend bool operator==(const UpdatePathNode&, const UpdatePathNode&) = default;
};

struct UpdatePath {
  LeafNode leaf_node;
  std::vector<UpdatePathNode> nodes;

  static auto tls_fields(auto& self) { return std::tie(self.leaf_node, self.nodes); }
  friend bool operator==(const UpdatePath&, const UpdatePath&) = default;
};

}  // namespace pmos::mls

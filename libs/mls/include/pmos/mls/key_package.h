#pragma once

// KeyPackages (RFC 9420 §10): a client's pre-published offer to be added to
// a group. Plain data, copyable, not synchronised. The version field is
// carried as is; MlsMessage checks it against its own (§10).

#include <compare>
#include <tuple>

#include "pmos/base/codec.h"
#include "pmos/mls/extension.h"
#include "pmos/mls/leaf_node.h"
#include "pmos/mls/types.h"

namespace pmos::mls {

struct KeyPackage {
  ProtocolVersion version = ProtocolVersion::kMls10;
  CipherSuiteId cipher_suite{};
  HpkePublicKey init_key;
  LeafNode leaf_node;
  ExtensionList extensions;
  Bytes signature;  // SignWithLabel(., "KeyPackageTBS", KeyPackageTBS)

  static auto tls_fields(auto& self) {
    return std::tie(self.version, self.cipher_suite, self.init_key, self.leaf_node, self.extensions,
                    self.signature);
  }
  friend bool operator==(const KeyPackage&, const KeyPackage&) = default;
};

// What a KeyPackage's signature covers: all of it but the signature.
struct KeyPackageTbs {
  ProtocolVersion version = ProtocolVersion::kMls10;
  CipherSuiteId cipher_suite{};
  HpkePublicKey init_key;
  LeafNode leaf_node;
  ExtensionList extensions;

  static KeyPackageTbs of(const KeyPackage& key_package) {
    return {key_package.version, key_package.cipher_suite, key_package.init_key, key_package.leaf_node,
            key_package.extensions};
  }

  static auto tls_fields(auto& self) {
    return std::tie(self.version, self.cipher_suite, self.init_key, self.leaf_node, self.extensions);
  }
  friend bool operator==(const KeyPackageTbs&, const KeyPackageTbs&) = default;
};

}  // namespace pmos::mls

#pragma once

// Leaf nodes (RFC 9420 §7.2): a member's keys, credential and capabilities,
// signed by the member. Plain data, copyable, not synchronised. Decoding
// checks syntax only; §7.3 validation (signature, lifetime, capabilities
// versus extensions) is done by the code that consumes the leaf.

#include <compare>
#include <cstdint>
#include <tuple>
#include <variant>
#include <vector>

#include "pmos/base/codec.h"
#include "pmos/mls/credential.h"
#include "pmos/mls/extension.h"
#include "pmos/mls/tree_math.h"
#include "pmos/mls/types.h"

namespace pmos::mls {

// What a client supports. Every list carries unknown values untouched:
// §7.2 "unknown values in `capabilities` MUST be ignored" and senders
// include GREASE values here (§13.5).
struct Capabilities {
  std::vector<ProtocolVersion> versions;
  std::vector<CipherSuiteId> cipher_suites;
  std::vector<ExtensionType> extensions;
  std::vector<ProposalType> proposals;
  std::vector<CredentialType> credentials;

  static auto tls_fields(auto& self) {
    return std::tie(self.versions, self.cipher_suites, self.extensions, self.proposals, self.credentials);
  }
  friend bool operator==(const Capabilities&, const Capabilities&) = default;
};

// Validity period in seconds since the Unix epoch; the leaf_node_source
// `key_package` alternative.
struct Lifetime {
  std::uint64_t not_before = 0;
  std::uint64_t not_after = 0;

  static auto tls_fields(auto& self) { return std::tie(self.not_before, self.not_after); }
  friend bool operator==(const Lifetime&, const Lifetime&) = default;
};

// The leaf_node_source `update` alternative: no fields.
struct LeafNodeUpdateSource {
  friend bool operator==(const LeafNodeUpdateSource&, const LeafNodeUpdateSource&) = default;
};

// The leaf_node_source `commit` alternative.
struct LeafNodeCommitSource {
  Bytes parent_hash;  // opaque<V>

  static auto tls_fields(auto& self) { return std::tie(self.parent_hash); }
  friend bool operator==(const LeafNodeCommitSource&, const LeafNodeCommitSource&) = default;
};

// `LeafNodeSource leaf_node_source; select (leaf_node_source) {...}`: the
// alternative held is the source (key_package, update, commit).
using LeafNodeSourceData = std::variant<Lifetime, LeafNodeUpdateSource, LeafNodeCommitSource>;

LeafNodeSource leaf_node_source_of(const LeafNodeSourceData& source);

struct LeafNode {
  HpkePublicKey encryption_key;
  SignaturePublicKey signature_key;
  Credential credential;
  Capabilities capabilities;
  LeafNodeSourceData source;
  ExtensionList extensions;
  Bytes signature;  // SignWithLabel(., "LeafNodeTBS", LeafNodeTBS)

  LeafNodeSource leaf_node_source() const { return leaf_node_source_of(source); }

  void tls_encode(tls::Writer& w) const;
  static ErrorOr<LeafNode> tls_decode(tls::Reader& r);
  friend bool operator==(const LeafNode&, const LeafNode&) = default;
};

// What a LeafNode's signature covers (RFC `LeafNodeTBS`): the leaf without
// its signature and, for the update and commit sources, the group id and the
// leaf's index. For the key_package source group_id and leaf_index are not
// on the wire and are ignored (and decode as empty / 0).
struct LeafNodeTbs {
  HpkePublicKey encryption_key;
  SignaturePublicKey signature_key;
  Credential credential;
  Capabilities capabilities;
  LeafNodeSourceData source;
  ExtensionList extensions;
  Bytes group_id;
  LeafIndex leaf_index;

  // The TBS of `leaf` as it sits at `leaf_index` of group `group_id`.
  static LeafNodeTbs of(const LeafNode& leaf, BytesView group_id, LeafIndex leaf_index);

  void tls_encode(tls::Writer& w) const;
  static ErrorOr<LeafNodeTbs> tls_decode(tls::Reader& r);
  friend bool operator==(const LeafNodeTbs&, const LeafNodeTbs&) = default;
};

}  // namespace pmos::mls

#pragma once

// Proposals (RFC 9420 §12.1) and the pre-shared key identifiers they and
// GroupSecrets carry (§8.4). Plain data, copyable, not synchronised.
// Decoding checks syntax only; §12.2 proposal-list validation comes later.

#include <compare>
#include <cstdint>
#include <tuple>
#include <variant>

#include "pmos/base/codec.h"
#include "pmos/mls/extension.h"
#include "pmos/mls/key_package.h"
#include "pmos/mls/leaf_node.h"
#include "pmos/mls/tree_math.h"
#include "pmos/mls/types.h"

namespace pmos::mls {

// psktype = external: a key the application provisioned.
struct ExternalPsk {
  Bytes psk_id;  // opaque<V>

  static auto tls_fields(auto& self) { return std::tie(self.psk_id); }
  friend bool operator==(const ExternalPsk&, const ExternalPsk&) = default;
};

// psktype = resumption: the resumption_psk of an earlier epoch of a group.
struct ResumptionPsk {
  ResumptionPskUsage usage = ResumptionPskUsage::kApplication;  // validated
  Bytes psk_group_id;                                           // opaque<V>
  std::uint64_t psk_epoch = 0;

  static auto tls_fields(auto& self) { return std::tie(self.usage, self.psk_group_id, self.psk_epoch); }
  friend bool operator==(const ResumptionPsk&, const ResumptionPsk&) = default;
};

// `PreSharedKeyID`: which PSK, and a fresh nonce for this use of it.
struct PreSharedKeyId {
  std::variant<ExternalPsk, ResumptionPsk> psk;
  Bytes psk_nonce;  // opaque<V>

  PskType psk_type() const { return psk.index() == 0 ? PskType::kExternal : PskType::kResumption; }

  void tls_encode(tls::Writer& w) const;
  static ErrorOr<PreSharedKeyId> tls_decode(tls::Reader& r);
  friend bool operator==(const PreSharedKeyId&, const PreSharedKeyId&) = default;
};

// The context of the i-th of `count` PSKs in the psk_secret derivation (§8.4).
struct PskLabel {
  PreSharedKeyId id;
  std::uint16_t index = 0;
  std::uint16_t count = 0;

  static auto tls_fields(auto& self) { return std::tie(self.id, self.index, self.count); }
  friend bool operator==(const PskLabel&, const PskLabel&) = default;
};

// §12.1.1: add the client of this KeyPackage.
struct Add {
  KeyPackage key_package;

  static auto tls_fields(auto& self) { return std::tie(self.key_package); }
  friend bool operator==(const Add&, const Add&) = default;
};

// §12.1.2: replace the sender's leaf.
struct Update {
  LeafNode leaf_node;

  static auto tls_fields(auto& self) { return std::tie(self.leaf_node); }
  friend bool operator==(const Update&, const Update&) = default;
};

// §12.1.3: remove the member at this leaf.
struct Remove {
  LeafIndex removed;

  static auto tls_fields(auto& self) { return std::tie(self.removed); }
  friend bool operator==(const Remove&, const Remove&) = default;
};

// §12.1.4: inject a PSK into the next epoch.
struct PreSharedKey {
  PreSharedKeyId psk;

  static auto tls_fields(auto& self) { return std::tie(self.psk); }
  friend bool operator==(const PreSharedKey&, const PreSharedKey&) = default;
};

// §12.1.5: restart the group with new parameters. `version` may be newer
// than any we know, so it is carried unvalidated.
struct ReInit {
  Bytes group_id;  // opaque<V>
  ProtocolVersion version = ProtocolVersion::kMls10;
  CipherSuiteId cipher_suite{};
  ExtensionList extensions;

  static auto tls_fields(auto& self) {
    return std::tie(self.group_id, self.version, self.cipher_suite, self.extensions);
  }
  friend bool operator==(const ReInit&, const ReInit&) = default;
};

// §12.1.6: the KEM output of an external joiner.
struct ExternalInit {
  Bytes kem_output;  // opaque<V>

  static auto tls_fields(auto& self) { return std::tie(self.kem_output); }
  friend bool operator==(const ExternalInit&, const ExternalInit&) = default;
};

// §12.1.7: replace the GroupContext extensions wholesale.
struct GroupContextExtensions {
  ExtensionList extensions;

  static auto tls_fields(auto& self) { return std::tie(self.extensions); }
  friend bool operator==(const GroupContextExtensions&, const GroupContextExtensions&) = default;
};

// `struct { ProposalType proposal_type; select (proposal_type) {...} }`:
// the alternative held is the type. Decoding rejects proposal types other
// than the seven of RFC 9420 ("unsupported proposal type"): their bodies
// cannot be parsed, and GREASE is forbidden here (§13.5).
struct Proposal {
  std::variant<Add, Update, Remove, PreSharedKey, ReInit, ExternalInit, GroupContextExtensions> value;

  ProposalType proposal_type() const;

  void tls_encode(tls::Writer& w) const;
  static ErrorOr<Proposal> tls_decode(tls::Reader& r);
  friend bool operator==(const Proposal&, const Proposal&) = default;
};

// A proposal in a Commit, by value or by reference (§12.4).
struct ProposalOrRef {
  std::variant<Proposal, ProposalRef> value;

  ProposalOrRefType type() const {
    return value.index() == 0 ? ProposalOrRefType::kProposal : ProposalOrRefType::kReference;
  }

  void tls_encode(tls::Writer& w) const;
  static ErrorOr<ProposalOrRef> tls_decode(tls::Reader& r);
  friend bool operator==(const ProposalOrRef&, const ProposalOrRef&) = default;
};

}  // namespace pmos::mls

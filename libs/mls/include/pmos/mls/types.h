#pragma once

// The enumerations and opaque aliases of the MLS wire format (RFC 9420).
//
// Two kinds of enum live here, and the difference matters for security and
// for interoperability (RFC 9420 §13):
//
//  * Closed enums, declared by the RFC as `enum { ..., (255) }` with no IANA
//    registry (ContentType, SenderType, LeafNodeSource, NodeType, PskType,
//    ResumptionPskUsage, ProposalOrRefType). An unknown value means the
//    message cannot be parsed, so they have a tls_enum_valid() and decoding
//    rejects anything else, including the reserved 0.
//  * Registry values (ProtocolVersion, CipherSuiteId, WireFormat,
//    ExtensionType, ProposalType, CredentialType). Lists of them in
//    Capabilities and RequiredCapabilities must carry unknown values (GREASE,
//    §13.5: "MUST ignore all unrecognized values"), so these enums have no
//    validator and any 16-bit value decodes. Where such a value selects the
//    layout of what follows (MLSMessage.wire_format, Proposal.proposal_type,
//    Credential.credential_type, MLSMessage.version) the enclosing struct's
//    decoder rejects values it cannot parse, with its own error.
//
// Names follow the house style (PascalCase, acronyms as words): the RFC's
// `MLSMessage` is MlsMessage here, `HPKECiphertext` HpkeCiphertext, and so on.

#include <cstdint>

#include "pmos/base/bytes.h"
#include "pmos/crypto/cipher_suite.h"

namespace pmos::mls {

// RFC 9420 §6. Registry value; not validated where it appears in lists
// (Capabilities.versions) or proposals (ReInit may name a newer version).
enum class ProtocolVersion : std::uint16_t {
  kReserved = 0,
  kMls10 = 1,
};

// RFC 9420 §17.1. Registry value: any id decodes (libs/crypto's enum has no
// validator); whether we implement it is CipherSuite::from_id's question.
using CipherSuiteId = crypto::CipherSuiteId;

// RFC 9420 §6, §17.2. Registry value. MlsMessage rejects formats it cannot
// parse; inside AuthenticatedContent and the TBS structs it is carried.
enum class WireFormat : std::uint16_t {
  kReserved = 0,
  kPublicMessage = 1,
  kPrivateMessage = 2,
  kWelcome = 3,
  kGroupInfo = 4,
  kKeyPackage = 5,
};

// RFC 9420 §6. Closed.
enum class ContentType : std::uint8_t {
  kReserved = 0,
  kApplication = 1,
  kProposal = 2,
  kCommit = 3,
};
bool tls_enum_valid(ContentType type);

// RFC 9420 §6. Closed.
enum class SenderType : std::uint8_t {
  kReserved = 0,
  kMember = 1,
  kExternal = 2,
  kNewMemberProposal = 3,
  kNewMemberCommit = 4,
};
bool tls_enum_valid(SenderType type);

// RFC 9420 §5.3, §17.5. Registry value: Capabilities.credentials must carry
// unknown (GREASE) values. Credential itself rejects types it cannot parse.
enum class CredentialType : std::uint16_t {
  kReserved = 0,
  kBasic = 1,
  kX509 = 2,
};

// RFC 9420 §12.1, §17.4. Registry value: Capabilities.proposals and
// RequiredCapabilities carry unknown values. Proposal rejects types it
// cannot parse (GREASE is forbidden there, §13.5).
enum class ProposalType : std::uint16_t {
  kReserved = 0,
  kAdd = 1,
  kUpdate = 2,
  kRemove = 3,
  kPsk = 4,
  kReinit = 5,
  kExternalInit = 6,
  kGroupContextExtensions = 7,
};

// RFC 9420 §13.4, §17.3. Registry value, never validated: an Extension's
// data is opaque, and unknown extensions MUST be ignored (§13.4).
enum class ExtensionType : std::uint16_t {
  kReserved = 0,
  kApplicationId = 1,
  kRatchetTree = 2,
  kRequiredCapabilities = 3,
  kExternalPub = 4,
  kExternalSenders = 5,
};

// RFC 9420 §7.2. Closed.
enum class LeafNodeSource : std::uint8_t {
  kReserved = 0,
  kKeyPackage = 1,
  kUpdate = 2,
  kCommit = 3,
};
bool tls_enum_valid(LeafNodeSource source);

// RFC 9420 §7.8. Closed.
enum class NodeType : std::uint8_t {
  kReserved = 0,
  kLeaf = 1,
  kParent = 2,
};
bool tls_enum_valid(NodeType type);

// RFC 9420 §8.4. Closed.
enum class PskType : std::uint8_t {
  kReserved = 0,
  kExternal = 1,
  kResumption = 2,
};
bool tls_enum_valid(PskType type);

// RFC 9420 §8.4. Closed.
enum class ResumptionPskUsage : std::uint8_t {
  kReserved = 0,
  kApplication = 1,
  kReinit = 2,
  kBranch = 3,
};
bool tls_enum_valid(ResumptionPskUsage usage);

// RFC 9420 §12.4. Closed.
enum class ProposalOrRefType : std::uint8_t {
  kReserved = 0,
  kProposal = 1,
  kReference = 2,
};
bool tls_enum_valid(ProposalOrRefType type);

// Opaque values (RFC 9420 §5.1.1, §5.2, §6.1), all opaque<V> on the wire.
// Their contents are checked by the crypto that consumes them, not here.
using HpkePublicKey = Bytes;
using SignaturePublicKey = Bytes;
using Mac = Bytes;
using HashReference = Bytes;
using KeyPackageRef = HashReference;
using ProposalRef = HashReference;

}  // namespace pmos::mls

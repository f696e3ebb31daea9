#include "pmos/mls/types.h"

namespace pmos::mls {

// Closed enums: only the values RFC 9420 defines, never the reserved 0.
bool tls_enum_valid(ContentType type) {
  return type == ContentType::kApplication || type == ContentType::kProposal || type == ContentType::kCommit;
}

bool tls_enum_valid(SenderType type) {
  return type == SenderType::kMember || type == SenderType::kExternal ||
         type == SenderType::kNewMemberProposal || type == SenderType::kNewMemberCommit;
}

bool tls_enum_valid(LeafNodeSource source) {
  return source == LeafNodeSource::kKeyPackage || source == LeafNodeSource::kUpdate ||
         source == LeafNodeSource::kCommit;
}

bool tls_enum_valid(NodeType type) { return type == NodeType::kLeaf || type == NodeType::kParent; }

bool tls_enum_valid(PskType type) { return type == PskType::kExternal || type == PskType::kResumption; }

bool tls_enum_valid(ResumptionPskUsage usage) {
  return usage == ResumptionPskUsage::kApplication || usage == ResumptionPskUsage::kReinit ||
         usage == ResumptionPskUsage::kBranch;
}

bool tls_enum_valid(ProposalOrRefType type) {
  return type == ProposalOrRefType::kProposal || type == ProposalOrRefType::kReference;
}

}  // namespace pmos::mls

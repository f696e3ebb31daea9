#include "pmos/mls/proposal.h"

#include "select.h"

namespace pmos::mls {

namespace {

constexpr std::array kPskTags = {PskType::kExternal, PskType::kResumption};

// In the order of Proposal::value's alternatives.
constexpr std::array kProposalTags = {ProposalType::kAdd,
                                      ProposalType::kUpdate,
                                      ProposalType::kRemove,
                                      ProposalType::kPsk,
                                      ProposalType::kReinit,
                                      ProposalType::kExternalInit,
                                      ProposalType::kGroupContextExtensions};

constexpr std::array kProposalOrRefTags = {ProposalOrRefType::kProposal, ProposalOrRefType::kReference};

}  // namespace

void PreSharedKeyId::tls_encode(tls::Writer& w) const {
  detail::write_select(w, kPskTags, psk);
  tls::write(w, psk_nonce);
}

ErrorOr<PreSharedKeyId> PreSharedKeyId::tls_decode(tls::Reader& r) {
  PreSharedKeyId id;
  TRY(detail::read_select(r, kPskTags, Error::decode("unknown PSK type"), id.psk));
  TRY(tls::read(r, id.psk_nonce));
  return id;
}

ProposalType Proposal::proposal_type() const { return kProposalTags[value.index()]; }

void Proposal::tls_encode(tls::Writer& w) const { detail::write_select(w, kProposalTags, value); }

ErrorOr<Proposal> Proposal::tls_decode(tls::Reader& r) {
  Proposal proposal;
  TRY(detail::read_select(r, kProposalTags, Error::unsupported("unsupported proposal type"), proposal.value));
  return proposal;
}

void ProposalOrRef::tls_encode(tls::Writer& w) const { detail::write_select(w, kProposalOrRefTags, value); }

ErrorOr<ProposalOrRef> ProposalOrRef::tls_decode(tls::Reader& r) {
  ProposalOrRef proposal_or_ref;
  TRY(detail::read_select(r, kProposalOrRefTags, Error::decode("unknown proposal-or-reference type"),
                          proposal_or_ref.value));
  return proposal_or_ref;
}

}  // namespace pmos::mls

#include "pmos/mls/credential.h"

#include "select.h"

namespace pmos::mls {

namespace {
constexpr std::array kCredentialTags = {CredentialType::kBasic, CredentialType::kX509};
}  // namespace

CredentialType Credential::credential_type() const { return kCredentialTags[value.index()]; }

void Credential::tls_encode(tls::Writer& w) const { detail::write_select(w, kCredentialTags, value); }

ErrorOr<Credential> Credential::tls_decode(tls::Reader& r) {
  // Other types (GREASE, private use, future) are rejected, not skipped: we
  // cannot tell where their body ends, and §13.5 says they reject the message.
  Credential credential;
  TRY(detail::read_select(r, kCredentialTags, Error::unsupported("unsupported credential type"),
                          credential.value));
  return credential;
}

}  // namespace pmos::mls

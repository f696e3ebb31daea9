#pragma once

// Credentials (RFC 9420 §5.3): what binds a member's identity to its
// signature key. These are wire values only; validating them against the
// Authentication Service is the caller's job. Plain data, copyable, not
// synchronised.

#include <compare>
#include <tuple>
#include <variant>
#include <vector>

#include "pmos/base/codec.h"
#include "pmos/mls/types.h"

namespace pmos::mls {

// One DER-encoded X.509 certificate.
struct Certificate {
  Bytes cert_data;  // opaque<V>

  static auto tls_fields(auto& self) { return std::tie(self.cert_data); }
  friend bool operator==(const Certificate&, const Certificate&) = default;
};

// credential_type = basic: an application-defined identity, not attested.
struct BasicCredential {
  Bytes identity;  // opaque<V>

  static auto tls_fields(auto& self) { return std::tie(self.identity); }
  friend bool operator==(const BasicCredential&, const BasicCredential&) = default;
};

// credential_type = x509: the chain, end-entity certificate first.
struct X509Credential {
  std::vector<Certificate> certificates;  // Certificate certificates<V>

  static auto tls_fields(auto& self) { return std::tie(self.certificates); }
  friend bool operator==(const X509Credential&, const X509Credential&) = default;
};

// struct { CredentialType credential_type; select (credential_type) {...} }.
// Decoding rejects credential types other than basic and x509: their layout
// is unknown to us, and §13.5 forbids GREASE here ("an unsupported value ...
// will cause the enclosing message to be rejected").
struct Credential {
  std::variant<BasicCredential, X509Credential> value;

  CredentialType credential_type() const;

  void tls_encode(tls::Writer& w) const;
  static ErrorOr<Credential> tls_decode(tls::Reader& r);
  friend bool operator==(const Credential&, const Credential&) = default;
};

}  // namespace pmos::mls

#pragma once

// Extensions (RFC 9420 §13.4) and the payloads of the extensions RFC 9420
// itself defines (§5.3.3, §11.1, §12.1.8.1, §12.4.3.2). Plain data,
// copyable, not synchronised.

#include <compare>
#include <tuple>
#include <vector>

#include "pmos/base/codec.h"
#include "pmos/mls/credential.h"
#include "pmos/mls/types.h"

namespace pmos::mls {

// One extension. The type is never validated and the data stays opaque
// until a caller who knows the type decodes it, because unknown extensions
// MUST be ignored (§13.4) and GREASE values must pass (§13.5).
struct Extension {
  ExtensionType extension_type = ExtensionType::kReserved;
  Bytes extension_data;  // opaque<V>

  static auto tls_fields(auto& self) { return std::tie(self.extension_type, self.extension_data); }
  friend bool operator==(const Extension&, const Extension&) = default;
};

// `Extension extensions<V>`. Decoding rejects a list naming any extension
// type twice: §13.4 "Any field containing a list of extensions MUST NOT have
// more than one extension of any given type". A decoder that kept the first
// (or last) of two would let a sender show different members different
// values for the same extension.
struct ExtensionList {
  std::vector<Extension> extensions;

  // The extension of `type`, or nullptr. The pointer borrows this list.
  const Extension* find(ExtensionType type) const;

  void tls_encode(tls::Writer& w) const;
  static ErrorOr<ExtensionList> tls_decode(tls::Reader& r);
  friend bool operator==(const ExtensionList&, const ExtensionList&) = default;
};

// extension_data of application_id (§5.3.3): opaque application_id<V>.
struct ApplicationIdExtension {
  Bytes application_id;

  static auto tls_fields(auto& self) { return std::tie(self.application_id); }
  friend bool operator==(const ApplicationIdExtension&, const ApplicationIdExtension&) = default;
};

// extension_data of required_capabilities (§11.1). The lists may name
// values we do not know; whether members support them is checked later.
struct RequiredCapabilitiesExtension {
  std::vector<ExtensionType> extension_types;
  std::vector<ProposalType> proposal_types;
  std::vector<CredentialType> credential_types;

  static auto tls_fields(auto& self) {
    return std::tie(self.extension_types, self.proposal_types, self.credential_types);
  }
  friend bool operator==(const RequiredCapabilitiesExtension&,
                         const RequiredCapabilitiesExtension&) = default;
};

// extension_data of external_pub (§12.4.3.2).
struct ExternalPubExtension {
  HpkePublicKey external_pub;

  static auto tls_fields(auto& self) { return std::tie(self.external_pub); }
  friend bool operator==(const ExternalPubExtension&, const ExternalPubExtension&) = default;
};

// One entry of the external_senders extension (§12.1.8.1), whose
// extension_data is `ExternalSender external_senders<V>`.
struct ExternalSender {
  SignaturePublicKey signature_key;
  Credential credential;

  static auto tls_fields(auto& self) { return std::tie(self.signature_key, self.credential); }
  friend bool operator==(const ExternalSender&, const ExternalSender&) = default;
};

}  // namespace pmos::mls

#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "pki.h"
#include "pmos/net/http.h"
#include "pmos/store/relay_store.h"

namespace pmos::server {

// User ids name people in certificates and logs: 1-64 characters of
// [A-Za-z0-9._@-], so they need no escaping anywhere.
bool valid_user_id(std::string_view user_id);

// A new one-time token: 32 random bytes as hex. Only its hash is stored.
std::string new_enrollment_token();
Bytes enrollment_token_hash(std::string_view token);

// The MLS suite policy (`mls-suite`, docs/server.md): the suite of new
// groups. "international" is 0x0001, "national" 0xF0A1; nothing else.
ErrorOr<std::uint16_t> parse_mls_suite_policy(std::string_view name);

struct EnrollmentConfig {
  std::chrono::hours certificate_validity{24 * 365};
  // With the national policy, `national_ca` (SM2) issues each device an MLS
  // credential certificate besides its TLS certificate. Null: international.
  const CertificateAuthority* national_ca = nullptr;
};

// POST /v1/enroll (anonymous TLS): {"token": "...", "csr": "<PEM>"} ->
// {"device_id", "user_id", "certificate", "ca"}: the international policy,
// byte for byte as before the national suite existed. Under the national
// policy the request must also carry "credential_csr" (an SM2 key's CSR,
// signed under the default distinguishing ID) and the answer adds
// "mls_suite": "national", "credential" (the SM2-with-SM3 credential
// certificate, same user and device) and "credential_ca". No other field is
// accepted. The CSRs are checked before the token is consumed, so a
// malformed request does not burn a token.
// Errors are {"error": "<text>", "code": "<machine code>"}: 400 bad_request /
// bad_csr / credential_csr_required (national policy, no credential_csr;
// the answer also says "mls_suite": "national"), 403 unknown_token /
// token_used / token_expired, 500 internal.
// `store` and `ca` must outlive the handler. Thread-safe.
net::Handler make_enrollment_handler(store::RelayStore& store, const CertificateAuthority& ca,
                                     EnrollmentConfig config);

}  // namespace pmos::server

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

struct EnrollmentConfig {
  std::chrono::hours certificate_validity{24 * 365};
};

// POST /v1/enroll (anonymous TLS): {"token": "...", "csr": "<PEM>"} ->
// {"device_id", "user_id", "certificate", "ca"}. The CSR is checked before
// the token is consumed, so a malformed request does not burn a token.
// Errors are {"error": "<text>", "code": "<machine code>"}: 400 bad_request /
// bad_csr, 403 unknown_token / token_used / token_expired, 500 internal.
// `store` and `ca` must outlive the handler. Thread-safe.
net::Handler make_enrollment_handler(store::RelayStore& store, const CertificateAuthority& ca,
                                     EnrollmentConfig config);

}  // namespace pmos::server

#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <openssl/x509.h>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"

namespace pmos::net {

// SHA-256 of a certificate's DER encoding: how PMOS names a device's
// certificate (revocation, kill_peer, logs).
using Sha256Fingerprint = std::array<std::uint8_t, 32>;

// A verified peer certificate as the application sees it: the DER, the
// subject fields it routes on, and the fingerprint. A plain value, safe to
// copy between threads. Only the TLS layer creates these from a verified
// chain; from_der() exists for tests and tools and verifies nothing.
struct PeerCertificate {
  Bytes der;
  std::string subject;              // RFC 2253 one-line form, e.g. "CN=dev1,O=Agency"
  std::string common_name;          // first CN, or empty
  std::string organization;         // first O, or empty
  std::vector<std::string> organizational_units;  // every OU, in order
  std::string serial_hex;           // lower-case hex, no leading zeros kept
  Sha256Fingerprint sha256{};

  std::string fingerprint_hex() const { return to_hex(sha256); }

  static ErrorOr<PeerCertificate> from_x509(X509* cert);
  static ErrorOr<PeerCertificate> from_der(BytesView der);
};

}  // namespace pmos::net

#pragma once

#include <functional>
#include <optional>
#include <string>

#include "pmos/base/error_or.h"
#include "pmos/net/peer_certificate.h"

namespace pmos::net {

// Where a PEM document comes from: a file read when the context is built, or
// text held in memory. A plain value; copying copies the text.
class PemSource {
 public:
  PemSource() = default;
  static PemSource file(std::string path) { return PemSource(Kind::kFile, std::move(path)); }
  static PemSource memory(std::string pem) { return PemSource(Kind::kMemory, std::move(pem)); }

  bool empty() const { return kind_ == Kind::kNone; }
  // The PEM text (reads the file if this names one).
  ErrorOr<std::string> load() const;

 private:
  enum class Kind { kNone, kFile, kMemory };
  PemSource(Kind kind, std::string value) : kind_(kind), value_(std::move(value)) {}
  Kind kind_ = Kind::kNone;
  std::string value_;
};

// Whether the server asks for a client certificate and what happens without
// one. With kOptional a presented certificate is still fully verified (an
// untrusted one fails the handshake); routes then decide (RouteOptions).
enum class ClientCertMode {
  kNone,      // do not ask; no route can require one
  kOptional,  // ask and verify; anonymous clients get only public routes
  kRequired,  // handshake fails without a certificate signed by client_ca
};

// Called once per full handshake with the verified leaf certificate of the
// client; returning false fails the handshake with a certificate_revoked
// alert. Called on I/O threads concurrently: must be thread-safe and quick
// (a lookup in a revocation set, not a database round trip).
using AcceptPeer = std::function<bool(const PeerCertificate&)>;

// TLS settings of a server. TLS 1.3 only; no session resumption (a resumed
// session would skip accept_peer, letting a revoked device back in).
struct TlsServerConfig {
  PemSource certificate_chain;  // leaf first, then intermediates
  PemSource private_key;        // PKCS#8 or traditional PEM, unencrypted
  PemSource client_ca;          // the org CA(s) that sign client certificates
  ClientCertMode client_cert_mode = ClientCertMode::kOptional;
  AcceptPeer accept_peer;       // empty: every verified certificate is accepted
};

// TLS settings of a client. TLS 1.3 only. The server is verified against
// `ca` (or the system trust store when empty) and against `server_name`
// (a DNS name or an IP address; empty: the host passed to connect()).
struct TlsClientConfig {
  PemSource ca;
  PemSource certificate_chain;  // empty: no client certificate
  PemSource private_key;
  std::string server_name;
};

}  // namespace pmos::net

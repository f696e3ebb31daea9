#pragma once

#include <string>
#include <vector>

#include "pmos/base/openssl_ptr.h"
#include "pmos/net/client.h"
#include "pmos/net/server.h"

namespace pmos::net::testing {

// A key and the certificate for it, as objects and as PEM.
struct Credential {
  EvpPkeyPtr key;
  X509Ptr cert;
  std::string cert_pem;
  std::string key_pem;

  Sha256Fingerprint fingerprint() const;
};

// A throwaway certificate authority built with the OpenSSL API: P-256 keys,
// one-day validity, the extensions strict RFC 5280 checking wants (basic
// constraints, key usage, SKID/AKID, EKU). Aborts the test on failure.
class TestCa {
 public:
  explicit TestCa(const std::string& common_name);

  const std::string& cert_pem() const { return ca_.cert_pem; }
  // A TLS server certificate for 127.0.0.1 and "localhost".
  Credential issue_server(const std::string& common_name) const;
  // A device (TLS client) certificate.
  Credential issue_client(const std::string& common_name, const std::string& organizational_unit = {}) const;

 private:
  Credential ca_;
};

// Everything a network test needs: the org CA with a server and two device
// certificates, and a foreign CA with a device certificate of its own.
struct Pki {
  Pki();
  TestCa org_ca;
  TestCa foreign_ca;
  Credential server;
  Credential device1;
  Credential device2;
  Credential foreign_device;

  TlsServerConfig server_tls(ClientCertMode mode = ClientCertMode::kOptional) const;
  // A client trusting the org CA, presenting `cert` (none if null).
  TlsClientConfig client_tls(const Credential* cert) const;
};

// The shared PKI for a test binary (key generation once, not per test).
const Pki& pki();

// A started server on 127.0.0.1, an ephemeral port, the org PKI and optional
// client certificates; `adjust` edits the config first. Aborts on failure.
std::unique_ptr<Server> start_server(Router router, const std::function<void(ServerConfig&)>& adjust = {});

// WebSocket handlers that echo every message back.
WebSocketHandlers echo_handlers();

// Polls `condition` every 5 ms until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& condition, Millis timeout = Millis(10'000));

}  // namespace pmos::net::testing

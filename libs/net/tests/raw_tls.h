#pragma once

#include <cstdint>
#include <string>

#include <openssl/ssl.h>

#include "pmos/base/unique_fd.h"
#include "pmos/net/server.h"
#include "test_pki.h"

namespace pmos::net::testing {

// A blocking TCP connection to 127.0.0.1, for speaking things our own client
// never would: garbage, TLS 1.2, half a request.
class RawSocket {
 public:
  explicit RawSocket(std::uint16_t port);
  bool connected() const { return fd_.get() >= 0; }
  int fd() const { return fd_.get(); }
  bool send(std::string_view data);
  // True if the peer closed (EOF or reset) within `timeout`; anything it
  // sends before closing is discarded.
  bool closed_within(Millis timeout);

 private:
  UniqueFd fd_;
};

// A raw OpenSSL client on a RawSocket.
class RawTlsClient {
 public:
  // `max_version`: e.g. TLS1_2_VERSION to play an outdated client.
  RawTlsClient(std::uint16_t port, int max_version, const Credential* cert);
  ~RawTlsClient();
  // The handshake result; on failure error() says why.
  bool handshake();
  bool write(std::string_view data);
  // True if the server closed the TLS connection (alert, close_notify, EOF)
  // within `timeout`.
  bool closed_within(Millis timeout);
  const std::string& error() const { return error_; }

 private:
  RawSocket socket_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string error_;
};

}  // namespace pmos::net::testing

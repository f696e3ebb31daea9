#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/net/http.h"
#include "pmos/net/tls.h"
#include "pmos/net/websocket.h"

namespace pmos::net {

using Millis = std::chrono::milliseconds;

// Blocking TLS 1.3 clients for tools and tests: each call runs its own I/O
// until done or until its timeout, on the caller's thread. A timed-out or
// failed connection is unusable afterwards (every later call fails).
// Not thread-safe: one thread uses a client at a time.
//
// Errors are kSystem with errno ETIMEDOUT (timeout), ECONNRESET (the peer
// closed or the TLS layer failed), ECONNREFUSED; last_error_detail() has
// the underlying message for logs.

class HttpsClient {
 public:
  static ErrorOr<std::unique_ptr<HttpsClient>> connect(const TlsClientConfig& tls,
                                                       std::string_view host, std::uint16_t port,
                                                       std::chrono::milliseconds timeout);
  ~HttpsClient();

  // Sends one request on the kept-alive connection and reads the response.
  ErrorOr<Response> request(Method method, std::string_view target, std::string body = {},
                            Headers headers = {},
                            std::chrono::milliseconds timeout = std::chrono::seconds(10));

  std::string last_error_detail() const;

  struct Impl;

 private:
  explicit HttpsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class WebSocketClient {
 public:
  // TLS handshake, then the WebSocket upgrade of GET `path`.
  static ErrorOr<std::unique_ptr<WebSocketClient>> connect(
      const TlsClientConfig& tls, std::string_view host, std::uint16_t port,
      std::string_view path, std::chrono::milliseconds timeout, Headers headers = {});
  ~WebSocketClient();

  ErrorOr<void> send(BytesView message, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // The next binary message. When the server closes, ECONNRESET and
  // close_info() says why. A timeout (ETIMEDOUT) leaves the connection as it
  // was: the next receive() waits on for the same message, so a caller can
  // wait for pushed messages in slices. Pings are answered while any call runs.
  ErrorOr<Bytes> receive(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Close handshake with kNormal.
  ErrorOr<void> close(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Set once the server sent a close frame.
  std::optional<CloseInfo> close_info() const;
  std::string last_error_detail() const;

  struct Impl;

 private:
  explicit WebSocketClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pmos::net

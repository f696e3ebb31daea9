#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "pmos/base/bytes.h"
#include "pmos/net/http.h"

namespace pmos::net {

// RFC 6455 §7.4.1 status codes PMOS uses.
enum class CloseCode : std::uint16_t {
  kNormal = 1000,
  kGoingAway = 1001,         // server shutting down
  kProtocolError = 1002,
  kUnsupportedData = 1003,   // a text frame: PMOS speaks binary only
  kAbnormal = 1006,          // no close frame (never sent; reported when the socket just died)
  kPolicyViolation = 1008,   // revoked peer, slow consumer
  kTooBig = 1009,            // message over the size limit
  kInternalError = 1011,
};

struct CloseInfo {
  std::uint16_t code = static_cast<std::uint16_t>(CloseCode::kAbnormal);
  std::string reason;
};

// The server side of one WebSocket connection, handed to the application in
// WebSocketHandlers::on_open. Kept alive by the server while the connection
// is open; the application may hold the shared_ptr longer (send() then
// returns false), but must release it before the Server is destroyed. All
// methods are thread-safe.
class WebSocketSession {
 public:
  virtual ~WebSocketSession() = default;

  // Queues one binary message. Returns false if the session is closing or
  // closed. If the outgoing queue is full (the peer reads slower than we
  // write), the session is closed with kPolicyViolation "outgoing queue full"
  // rather than buffering without bound, and false is returned.
  virtual bool send(Bytes message) = 0;
  // Starts a close handshake; queued messages not yet written are dropped.
  // The socket is closed at the latest after Limits::ws_close_timeout.
  virtual void close(CloseCode code, std::string reason) = 0;

  // The upgrade request: path, path parameters, headers and the peer.
  virtual const Request& request() const = 0;
  const std::optional<PeerCertificate>& peer() const { return request().peer; }
  // Unique per server for the server's lifetime.
  virtual std::uint64_t id() const = 0;
};

// Callbacks of one WebSocket route, called on the connection's strand: never
// concurrently for one session, so per-session state needs no lock. They must
// not block.
struct WebSocketHandlers {
  std::function<void(const std::shared_ptr<WebSocketSession>&)> on_open;
  std::function<void(WebSocketSession&, Bytes message)> on_message;
  // Called once, after on_open, when the connection has ended for any reason.
  std::function<void(WebSocketSession&, const CloseInfo&)> on_close;
};

}  // namespace pmos::net

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "pmos/base/error_or.h"
#include "pmos/net/router.h"
#include "pmos/net/tls.h"

namespace pmos::net {

using Millis = std::chrono::milliseconds;

// Every limit of a connection, each applied where its phase starts
// (docs/net.md lists them with the reasons for the defaults).
struct Limits {
  std::size_t max_connections = 10'000;   // more are accepted and closed at once
  Millis handshake_timeout{10'000};       // TCP accept -> TLS handshake done
  Millis request_timeout{30'000};         // wait for + read one HTTP request (also keep-alive idle)
  Millis write_timeout{30'000};           // write one HTTP response or one WebSocket message
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 1024 * 1024;  // default per route (RouteOptions overrides)
  std::size_t ws_max_message_bytes = 1024 * 1024;
  std::size_t ws_queue_depth = 256;       // outgoing messages per connection
  Millis ws_idle_timeout{60'000};         // ping after half of it; close if the peer stays silent
  Millis ws_close_timeout{500};           // close handshake; also kill_peer's hard limit
};

enum class LogLevel { kInfo, kWarning, kError };
using Logger = std::function<void(LogLevel, std::string_view)>;

struct ServerConfig {
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 0;  // 0: an ephemeral port; see Server::port()
  int threads = 1;         // I/O threads
  TlsServerConfig tls;
  Limits limits;
  Logger logger;           // empty: no logging. Called from I/O threads.
};

// An HTTPS + WebSocket server: one TLS 1.3 listener serving the router's HTTP
// routes and WebSocket upgrades. Owns its I/O threads. Handlers run on them.
//
// Thread-safe: every method may be called from any thread except an I/O
// thread of this server (shutdown() would wait for itself).
class Server {
 public:
  // Builds the TLS context and binds the listener (so port() is known), but
  // accepts nothing until start().
  static ErrorOr<std::unique_ptr<Server>> create(ServerConfig config, Router router);
  // Shuts down with a zero deadline if still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::uint16_t port() const;
  void start();

  // Graceful shutdown, blocking: stop accepting; let in-flight HTTP requests
  // finish (their connections then close); close WebSockets with kGoingAway;
  // wait for every connection to end. Whatever is still open at `deadline` is
  // closed hard. Returns true if everything ended before the deadline.
  bool shutdown(Millis deadline);

  // Closes every connection whose client certificate has this fingerprint
  // (a revoked device): WebSockets get kPolicyViolation "peer revoked" and are
  // cut at most Limits::ws_close_timeout later; HTTP connections are cut at
  // once. New connections are the job of TlsServerConfig::accept_peer.
  // Returns how many connections were told to close.
  std::size_t kill_peer(const Sha256Fingerprint& fingerprint);

  // Connections currently open (accepted and not yet finished).
  std::size_t connection_count() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pmos::net

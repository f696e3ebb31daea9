#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pmos/base/error_or.h"
#include "pmos/net/http.h"
#include "pmos/net/websocket.h"

namespace pmos::net {

// Who may use a route. Deny by default: a route is for mTLS devices unless it
// says otherwise, so forgetting the option cannot open a device route to
// anonymous clients.
enum class PeerAuth {
  kClientCertificate,  // a verified client certificate is required (403 without)
  kAnonymous,          // anyone who completes TLS (enrollment; admin with bearer tokens)
};

struct RouteOptions {
  PeerAuth auth = PeerAuth::kClientCertificate;
  // Largest accepted request body; 0 = Limits::max_body_bytes. Larger -> 413.
  std::size_t max_body_bytes = 0;
};

// Method + path routing with "{name}" path parameters, e.g.
// "/v1/groups/{group}/messages". A parameter matches one non-empty segment.
// Literal segments win over parameters at the same position, so
// "/v1/devices/self" and "/v1/devices/{id}" can coexist.
//
// Built before the server starts and immutable afterwards (the server takes
// it by value); not thread-safe while being built.
class Router {
 public:
  struct Route {
    Method method;
    std::vector<std::string> segments;
    Handler handler;                 // HTTP routes
    const WebSocketHandlers* websocket = nullptr;  // WebSocket routes (owned by the router)
    RouteOptions options;
  };

  // Adds an HTTP route. kInvalidArgument for a malformed pattern or a
  // duplicate (method, pattern).
  ErrorOr<void> add(Method method, std::string_view pattern, Handler handler,
                    RouteOptions options = {});
  // Adds a WebSocket endpoint (upgrade of GET `pattern`).
  ErrorOr<void> add_websocket(std::string_view pattern, WebSocketHandlers handlers,
                              RouteOptions options = {});

  enum class MatchStatus { kFound, kNotFound, kMethodNotAllowed };
  struct Match {
    MatchStatus status = MatchStatus::kNotFound;
    const Route* route = nullptr;
    std::map<std::string, std::string, std::less<>> params;
    std::string allow;  // for kMethodNotAllowed: "GET, POST"
  };
  // Finds the route for (method, path). `websocket_upgrade` selects WebSocket
  // routes instead of HTTP ones. HEAD falls back to GET routes.
  Match match(Method method, std::string_view path, bool websocket_upgrade) const;

  // The largest body any route accepts, given the server default.
  std::size_t max_body_bytes(std::size_t server_default) const;

  Router();
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;

 private:
  ErrorOr<void> add_route(Route route, std::string_view pattern);

  std::vector<Route> routes_;
  // Stable storage for WebSocket handlers (Route points into it).
  std::vector<std::unique_ptr<WebSocketHandlers>> websocket_handlers_;
};

}  // namespace pmos::net

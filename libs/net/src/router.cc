#include "pmos/net/router.h"

#include <algorithm>

namespace pmos::net {
namespace {

// Splits "/a/b/c" into {"a","b","c"}; "/" gives {}. Empty segments ("//",
// a trailing '/') are kept as "" so that they never match a parameter.
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  if (path.empty()) return out;
  for (;;) {
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

bool is_param(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// How well `route` matches `path`: nullopt if not at all; otherwise a score in
// which literal segments count more than parameters earlier in the path.
std::optional<std::vector<bool>> match_segments(const std::vector<std::string>& route,
                                                const std::vector<std::string_view>& path) {
  if (route.size() != path.size()) return std::nullopt;
  std::vector<bool> literal(route.size());
  for (std::size_t i = 0; i < route.size(); ++i) {
    if (is_param(route[i])) {
      if (path[i].empty()) return std::nullopt;
    } else if (route[i] != path[i]) {
      return std::nullopt;
    } else {
      literal[i] = true;
    }
  }
  return literal;
}

}  // namespace

Router::Router() = default;
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

ErrorOr<void> Router::add_route(Route route, std::string_view pattern) {
  if (pattern.empty() || pattern.front() != '/') return Error::invalid_argument("route must start with '/'");
  for (std::string_view segment : split_path(pattern)) {
    if (segment.empty()) return Error::invalid_argument("empty segment in route");
    bool braces = segment.find_first_of("{}") != std::string_view::npos;
    if (braces && !is_param(segment)) return Error::invalid_argument("malformed route parameter");
    route.segments.emplace_back(segment);
  }
  for (const Route& existing : routes_) {
    if (existing.method != route.method ||
        (existing.websocket != nullptr) != (route.websocket != nullptr) ||
        existing.segments.size() != route.segments.size())
      continue;
    // "/a/{x}" and "/a/{y}" are the same route: parameter names do not matter.
    bool same = true;
    for (std::size_t i = 0; i < route.segments.size() && same; ++i)
      same = is_param(existing.segments[i]) ? is_param(route.segments[i])
                                            : existing.segments[i] == route.segments[i];
    if (same) return Error::invalid_argument("duplicate route");
  }
  routes_.push_back(std::move(route));
  return {};
}

ErrorOr<void> Router::add(Method method, std::string_view pattern, Handler handler,
                          RouteOptions options) {
  if (!handler) return Error::invalid_argument("route without a handler");
  return add_route(Route{method, {}, std::move(handler), nullptr, options}, pattern);
}

ErrorOr<void> Router::add_websocket(std::string_view pattern, WebSocketHandlers handlers,
                                    RouteOptions options) {
  if (!handlers.on_message) return Error::invalid_argument("WebSocket route without on_message");
  auto owned = std::make_unique<WebSocketHandlers>(std::move(handlers));
  TRY(add_route(Route{Method::kGet, {}, nullptr, owned.get(), options}, pattern));
  websocket_handlers_.push_back(std::move(owned));
  return {};
}

Router::Match Router::match(Method method, std::string_view path, bool websocket_upgrade) const {
  Match result;
  const auto segments = split_path(path);
  const Route* best = nullptr;
  std::vector<bool> best_score;
  std::vector<Method> allowed;
  auto consider = [&](Method wanted) {
    for (const Route& route : routes_) {
      if ((route.websocket != nullptr) != websocket_upgrade) continue;
      auto score = match_segments(route.segments, segments);
      if (!score) continue;
      if (route.method != wanted) {
        if (std::find(allowed.begin(), allowed.end(), route.method) == allowed.end())
          allowed.push_back(route.method);
        continue;
      }
      // Lexicographic on "literal at position i": a literal earlier wins.
      if (best == nullptr || *score > best_score) {
        best = &route;
        best_score = std::move(*score);
      }
    }
  };
  consider(method);
  if (best == nullptr && method == Method::kHead) consider(Method::kGet);
  if (best != nullptr) {
    result.status = MatchStatus::kFound;
    result.route = best;
    for (std::size_t i = 0; i < best->segments.size(); ++i) {
      const std::string& s = best->segments[i];
      if (is_param(s)) result.params.emplace(s.substr(1, s.size() - 2), std::string(segments[i]));
    }
    return result;
  }
  if (!allowed.empty()) {
    result.status = MatchStatus::kMethodNotAllowed;
    std::sort(allowed.begin(), allowed.end());
    for (Method m : allowed) {
      if (!result.allow.empty()) result.allow += ", ";
      result.allow += to_string(m);
    }
  }
  return result;
}

std::size_t Router::max_body_bytes(std::size_t server_default) const {
  std::size_t largest = server_default;
  for (const Route& route : routes_) largest = std::max(largest, route.options.max_body_bytes);
  return largest;
}

}  // namespace pmos::net

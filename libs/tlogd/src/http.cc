#include "pmos/tlogd/http.h"

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "pmos/tlog/entry_bundle.h"
#include "pmos/tlog/tile.h"

namespace pmos::tlogd {
namespace {

// "/tile/<L>/<N...>[.p/<W>]": <N> has at most 7 three-digit groups for a
// 64-bit index, and ".p/<W>" adds one segment, so paths after "/tile/" have
// 2..9 segments ("entries" counting as <L>). The router matches whole
// segments only, so each depth is a route of its own.
constexpr int kMinTileSegments = 2;
constexpr int kMaxTileSegments = 9;

net::Response binary(Bytes body, std::string_view cache_control) {
  net::Response response;
  response.content_type = "application/octet-stream";
  response.body.assign(body.begin(), body.end());
  response.headers.emplace_back("cache-control", std::string(cache_control));
  return response;
}

ErrorOr<net::Response> serve_tile(const Log& log, const net::Request& request) {
  std::string_view path = request.path;
  path.remove_prefix(1);  // the router matched "/tile/...", so there is a '/'
  constexpr std::string_view kEntries = "tile/entries/";
  if (path.starts_with(kEntries)) {
    // The strict parsers 404 every non-canonical spelling, so one tile has
    // one URL and a cache cannot be filled with aliases.
    auto tile = tlog::parse_entry_bundle_path(path);
    if (!tile) return Error::not_found("no such entry bundle");
    auto bundle = TRY(log.read_entry_bundle(*tile));
    return binary(std::move(bundle), tile->partial() ? kPartialCacheControl : kImmutableCacheControl);
  }
  auto tile = tlog::parse_tile_path(path);
  if (!tile) return Error::not_found("no such tile");
  auto contents = TRY(log.read_tile(*tile));
  return binary(std::move(contents), tile->partial() ? kPartialCacheControl : kImmutableCacheControl);
}

}  // namespace

ErrorOr<void> add_http_routes(net::Router& router, Log& log, HttpOptions options) {
  const net::RouteOptions anonymous{.auth = net::PeerAuth::kAnonymous};

  TRY(router.add(
      net::Method::kGet, "/checkpoint",
      [&log](const net::Request&) -> ErrorOr<net::Response> {
        net::Response response = net::Response::text(log.checkpoint().note);
        response.content_type = "text/plain; charset=utf-8";
        response.headers.emplace_back("cache-control", std::string(kCheckpointCacheControl));
        return response;
      },
      anonymous));

  std::string pattern = "/tile";
  for (int segments = 1; segments <= kMaxTileSegments; ++segments) {
    pattern += "/{s" + std::to_string(segments) + "}";
    if (segments < kMinTileSegments) continue;
    TRY(router.add(
        net::Method::kGet, pattern,
        [&log](const net::Request& request) { return serve_tile(log, request); }, anonymous));
  }

  if (options.add_token.empty()) return {};
  auto token = std::make_shared<const std::string>(std::move(options.add_token));
  TRY(router.add(
      net::Method::kPost, "/add",
      [&log, token](const net::Request& request) -> ErrorOr<net::Response> {
        auto presented = request.bearer_token();
        // Constant time in the contents: a timing oracle on the comparison
        // would let anyone recover the token byte by byte and append to the
        // authority's log.
        if (!presented || !constant_time_equal(as_bytes(*presented), as_bytes(*token)))
          return net::Response::error(401, "missing or wrong bearer token");
        // Blocks this I/O thread for one group commit (see the FIXME in
        // http.h); the answer means the entry is durable.
        auto index = log.append(as_bytes(request.body));
        if (!index) {
          if (index.error().category() == ErrorCategory::kInvalidArgument)
            return net::Response::error(400, index.error().message());
          return index.error();
        }
        return net::Response::json({{"index", *index}});
      },
      net::RouteOptions{.auth = net::PeerAuth::kAnonymous, .max_body_bytes = tlog::kMaxEntrySize}));
  return {};
}

}  // namespace pmos::tlogd

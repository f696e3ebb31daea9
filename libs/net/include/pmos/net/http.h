#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "pmos/base/error_or.h"
#include "pmos/net/peer_certificate.h"

namespace pmos::net {

enum class Method : std::uint8_t { kGet, kHead, kPost, kPut, kPatch, kDelete, kOptions };
std::string_view to_string(Method method);

// Header names are stored lower-case; lookups ignore case.
using Headers = std::vector<std::pair<std::string, std::string>>;

// One HTTP request as a handler sees it. Owned by the server for the duration
// of the handler call; copy what must outlive it.
struct Request {
  Method method = Method::kGet;
  std::string target;  // as sent: path and query
  std::string path;    // target without the query
  std::string query;   // after '?', undecoded; empty if none
  std::map<std::string, std::string, std::less<>> path_params;  // "{name}" segments
  Headers headers;
  std::string body;
  // The verified client certificate, if the client presented one.
  std::optional<PeerCertificate> peer;

  // Value of the first header `name` (any case), or empty.
  std::string_view header(std::string_view name) const;
  // The path parameter `name`, or empty.
  std::string_view param(std::string_view name) const;
  // The token of an "Authorization: Bearer <token>" header.
  std::optional<std::string_view> bearer_token() const;
  // The body parsed as JSON; kDecode if it is not JSON.
  ErrorOr<nlohmann::json> json() const;
};

// What a handler answers. Plain data.
struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Headers headers;  // extra headers (not Content-Type / Content-Length)

  std::string_view header(std::string_view name) const;

  static Response json(const nlohmann::json& value, int status = 200);
  // {"error": "<message>"} with `status`: every error the router itself
  // produces (400, 403, 404, 405, 413, 500 ...) has this shape.
  static Response error(int status, std::string_view message);
  static Response text(std::string body, int status = 200);
};

// A route handler. Runs on an I/O thread, so it must not block for long
// (FIXME: an asynchronous handler form once a handler has to await the store).
// An Error becomes a JSON error response: kInvalidArgument and kDecode -> 400,
// kNotFound -> 404, anything else -> 500 without the message (it may describe
// internals). An exception is a bug: it is logged and answered with 500.
using Handler = std::function<ErrorOr<Response>(const Request&)>;

}  // namespace pmos::net

#include "pmos/net/http.h"

#include <strings.h>

#include <nlohmann/json.hpp>

namespace pmos::net {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view find_header(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers)
    if (iequals(key, name)) return value;
  return {};
}

}  // namespace

std::string_view to_string(Method method) {
  switch (method) {
    case Method::kGet: return "GET";
    case Method::kHead: return "HEAD";
    case Method::kPost: return "POST";
    case Method::kPut: return "PUT";
    case Method::kPatch: return "PATCH";
    case Method::kDelete: return "DELETE";
    case Method::kOptions: return "OPTIONS";
  }
  return "?";
}

std::string_view Request::header(std::string_view name) const { return find_header(headers, name); }

std::string_view Request::param(std::string_view name) const {
  auto it = path_params.find(name);
  return it == path_params.end() ? std::string_view() : std::string_view(it->second);
}

std::optional<std::string_view> Request::bearer_token() const {
  std::string_view value = header("authorization");
  constexpr std::string_view kScheme = "bearer ";
  // RFC 6750 §2.1: the scheme is case-insensitive, the token is not empty.
  if (value.size() <= kScheme.size() || !iequals(value.substr(0, kScheme.size()), kScheme))
    return std::nullopt;
  return value.substr(kScheme.size());
}

ErrorOr<nlohmann::json> Request::json() const {
  // allow_exceptions=false: malformed input from outside is a value, not a throw.
  nlohmann::json value = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return Error::decode("request body is not valid JSON");
  return value;
}

std::string_view Response::header(std::string_view name) const {
  if (iequals(name, "content-type")) return content_type;
  return find_header(headers, name);
}

Response Response::json(const nlohmann::json& value, int status) {
  Response r;
  r.status = status;
  // Invalid UTF-8 in a string is replaced rather than thrown on: a handler
  // echoing client text must not turn into a 500.
  r.body = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

Response Response::error(int status, std::string_view message) {
  return json(nlohmann::json{{"error", message}}, status);
}

Response Response::text(std::string body, int status) {
  Response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

}  // namespace pmos::net

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "pmos/base/error_or.h"

namespace pmos::pkg {

// A network endpoint pattern, `host:port`, as apps request them in their
// manifest and as the app standard allows them. The grammar is deliberately
// narrow so that what a pattern grants can be read off it
// (docs/formats/package.md, "Endpoint patterns"):
//
//   pattern  = host ":" port
//   host     = name | "*." name | ipv4
//   name     = label *("." label)      ; lower case, 1..63 per label, <= 253 in all,
//                                      ; [a-z0-9-], no '-' at either end of a label,
//                                      ; the last label is not all digits
//   ipv4     = 4 dot-separated decimal octets 0..255, no leading zeros
//   port     = "*" | 1..65535 without leading zeros
//
// `*.` matches exactly one further label (as in TLS certificates), and the
// name after it must have at least two labels: `*.com` is refused, as are
// `*` alone, `foo*.x.y`, `*.*.x.y`, wildcard IPs and IPv6 (not yet needed).
// Patterns are canonical: parse(text)->text() == text.
//
// Immutable value; thread-safe.
class EndpointPattern {
 public:
  static ErrorOr<EndpointPattern> parse(std::string_view text);

  // Whether the concrete endpoint (a name or IPv4 address, compared without
  // regard to ASCII case, and a port) is granted by this pattern. A host that
  // is not a well-formed concrete name never matches.
  bool matches(std::string_view host, std::uint16_t port) const;
  // Whether every endpoint that `narrower` matches is also matched by this
  // one: how vetting decides that a requested pattern stays inside the
  // allowed ones.
  bool covers(const EndpointPattern& narrower) const;

  const std::string& text() const { return text_; }
  bool wildcard() const { return wildcard_; }
  std::optional<std::uint16_t> port() const { return port_; }

  friend bool operator==(const EndpointPattern& a, const EndpointPattern& b) {
    return a.text_ == b.text_;
  }

 private:
  EndpointPattern() = default;

  std::string text_;
  std::string host_;  // for a wildcard, the name after "*."
  bool wildcard_ = false;
  bool ipv4_ = false;
  std::optional<std::uint16_t> port_;  // nullopt: any port
};

}  // namespace pmos::pkg

#include "pmos/pkg/endpoint.h"

#include <algorithm>
#include <cctype>

namespace pmos::pkg {
namespace {

constexpr std::size_t kMaxNameBytes = 253;
constexpr std::size_t kMaxLabelBytes = 63;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_label_char(char c) { return (c >= 'a' && c <= 'z') || is_digit(c) || c == '-'; }

// A decimal number without sign or leading zeros, at most `max`.
std::optional<std::uint32_t> parse_decimal(std::string_view text, std::uint32_t max) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  std::uint32_t value = 0;
  for (char c : text) {
    if (!is_digit(c)) return std::nullopt;
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (value > max) return std::nullopt;
  return value;
}

bool is_ipv4(std::string_view text) {
  int octets = 0;
  while (true) {
    auto dot = text.find('.');
    std::string_view octet = text.substr(0, dot);
    if (octet.size() > 3 || !parse_decimal(octet, 255)) return false;
    ++octets;
    if (dot == std::string_view::npos) break;
    text.remove_prefix(dot + 1);
  }
  return octets == 4;
}

// A lower-case DNS name per the grammar in endpoint.h, with its label count.
std::optional<int> dns_name_labels(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return std::nullopt;
  int labels = 0;
  std::string_view last;
  while (true) {
    auto dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > kMaxLabelBytes) return std::nullopt;
    if (label.front() == '-' || label.back() == '-') return std::nullopt;
    if (!std::all_of(label.begin(), label.end(), is_label_char)) return std::nullopt;
    ++labels;
    last = label;
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
  }
  // An all-digit last label would make "1.2.3.4" readable both as a name and
  // as an address; no real top-level domain is numeric.
  if (std::all_of(last.begin(), last.end(), is_digit)) return std::nullopt;
  return labels;
}

}  // namespace

ErrorOr<EndpointPattern> EndpointPattern::parse(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos || text.find(':', colon + 1) != std::string_view::npos)
    return Error::invalid_argument("endpoint pattern is not host:port (IPv6 is not supported)");
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);

  EndpointPattern pattern;
  pattern.text_ = std::string(text);
  if (port != "*") {
    auto number = parse_decimal(port, 65535);
    if (!number || *number == 0)
      return Error::invalid_argument("endpoint pattern port is not * or 1..65535");
    pattern.port_ = static_cast<std::uint16_t>(*number);
  }

  if (host.starts_with("*.")) {
    pattern.wildcard_ = true;
    host.remove_prefix(2);
    auto labels = dns_name_labels(host);
    if (!labels) return Error::invalid_argument("endpoint pattern host is not a lower-case DNS name");
    // "*.com" would grant a whole top-level domain.
    if (*labels < 2)
      return Error::invalid_argument("endpoint wildcard must be followed by at least two labels");
  } else if (is_ipv4(host)) {
    pattern.ipv4_ = true;
  } else if (host.find('*') != std::string_view::npos) {
    return Error::invalid_argument("endpoint wildcard is allowed only as the whole leftmost label");
  } else if (!dns_name_labels(host)) {
    return Error::invalid_argument("endpoint pattern host is not a lower-case DNS name or IPv4 address");
  }
  pattern.host_ = std::string(host);
  return pattern;
}

bool EndpointPattern::matches(std::string_view host, std::uint16_t port) const {
  if (port == 0 || (port_ && *port_ != port)) return false;
  std::string lower(host);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  if (is_ipv4(lower)) return ipv4_ && lower == host_;
  // Anything else must be a well-formed name: "a.example.com." or
  // "x\0.example.com" never match, whatever the pattern.
  if (!dns_name_labels(lower)) return false;
  if (!wildcard_) return !ipv4_ && lower == host_;
  // "*." + host_ matches exactly one label before host_.
  if (lower.size() < host_.size() + 2) return false;
  std::string_view view(lower);
  if (!view.ends_with(host_) || view[view.size() - host_.size() - 1] != '.') return false;
  std::string_view first = view.substr(0, view.size() - host_.size() - 1);
  return first.find('.') == std::string_view::npos;
}

bool EndpointPattern::covers(const EndpointPattern& narrower) const {
  if (port_ && narrower.port_ != port_) return false;  // "any port" is not inside port N
  if (!wildcard_) return !narrower.wildcard_ && narrower.ipv4_ == ipv4_ && narrower.host_ == host_;
  if (narrower.wildcard_) return narrower.host_ == host_;
  if (narrower.ipv4_) return false;
  // A concrete name is covered when it is one label plus our suffix.
  return matches(narrower.host_, narrower.port_.value_or(port_.value_or(1)));
}

}  // namespace pmos::pkg

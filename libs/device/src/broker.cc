#include "pmos/device/broker.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "pmos/base/codec.h"

namespace pmos::device {
namespace {

constexpr std::size_t kMaxHostBytes = 253;
constexpr std::size_t kMaxTitleBytes = 128;
constexpr std::size_t kMaxTextBytes = 1024;
constexpr std::size_t kMaxMessageBytes = 512;

bool has_control_characters(std::string_view text) {
  for (unsigned char c : text)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

ErrorOr<std::string> read_text(tls::Reader& r, std::size_t min, std::size_t max) {
  BytesView bytes = TRY(r.opaque());
  if (bytes.size() < min || bytes.size() > max) return Error::decode("broker: text field length out of range");
  std::string text(as_string(bytes));
  if (has_control_characters(text)) return Error::decode("broker: text field holds control characters");
  return text;
}

std::string endpoint_text(std::string_view host, std::uint16_t port) {
  return std::string(host) + ":" + std::to_string(port);
}

std::string address_text(const sockaddr* address) {
  char text[INET6_ADDRSTRLEN] = "?";
  std::uint16_t port = 0;
  if (address->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    ::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    port = ntohs(v4->sin_port);
    return std::string(text) + ":" + std::to_string(port);
  }
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
  ::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
  port = ntohs(v6->sin6_port);
  return "[" + std::string(text) + "]:" + std::to_string(port);
}

// The phone's own services listen on loopback. A name granted to an app is
// someone else's DNS: if it resolves to loopback or "any" it would let the
// app reach those services, so only a grant that names the address itself
// (an IPv4 pattern, which the standard had to allow) may go there.
bool is_local_address(const sockaddr* address) {
  if (address->sa_family == AF_INET) {
    std::uint32_t a = ntohl(reinterpret_cast<const sockaddr_in*>(address)->sin_addr.s_addr);
    return (a >> 24) == 127 || (a >> 24) == 0;
  }
  const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr;
  return IN6_IS_ADDR_LOOPBACK(&a) || IN6_IS_ADDR_UNSPECIFIED(&a) || IN6_IS_ADDR_V4MAPPED(&a);
}

struct AddrInfoDeleter {
  void operator()(addrinfo* info) const { ::freeaddrinfo(info); }
};

// Non-blocking connect bounded by `timeout_ms`; returns a blocking socket.
ErrorOr<UniqueFd> connect_with_timeout(const addrinfo* ai, int timeout_ms) {
  UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
  if (!fd) return Error::system("socket", errno);
  if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
    if (errno != EINPROGRESS) return Error::system("connect", errno);
    pollfd p{fd.get(), POLLOUT, 0};
    int ready;
    do {
      ready = ::poll(&p, 1, timeout_ms);
    } while (ready < 0 && errno == EINTR);
    if (ready < 0) return Error::system("poll", errno);
    if (ready == 0) return Error::system("connect", ETIMEDOUT);
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) return Error::system("getsockopt", errno);
    if (error != 0) return Error::system("connect", error);
  }
  int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) return Error::system("fcntl", errno);
  return fd;
}

ErrorOr<void> send_message(int socket, BytesView message, int pass_fd) {
  iovec iov{const_cast<std::uint8_t*>(message.data()), message.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (pass_fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cmsg), &pass_fd, sizeof(int));
  }
  while (::sendmsg(socket, &msg, MSG_NOSIGNAL) < 0) {
    if (errno != EINTR) return Error::system("sendmsg", errno);
  }
  return {};
}

}  // namespace

ErrorOr<BrokerRequest> decode_broker_request(BytesView message) {
  if (message.size() > kMaxBrokerMessage) return Error::decode("broker: request too long");
  tls::Reader r(message);
  if (TRY(r.u8()) != kBrokerProtocolVersion) return Error::decode("broker: unknown protocol version");
  BrokerRequest request;
  std::uint8_t type = TRY(r.u8());
  if (type == static_cast<std::uint8_t>(BrokerRequestType::kConnect)) {
    request.type = BrokerRequestType::kConnect;
    request.host = TRY(read_text(r, 1, kMaxHostBytes));
    request.port = TRY(r.u16());
    if (request.port == 0) return Error::decode("broker: port 0");
  } else if (type == static_cast<std::uint8_t>(BrokerRequestType::kNotify)) {
    request.type = BrokerRequestType::kNotify;
    request.title = TRY(read_text(r, 1, kMaxTitleBytes));
    request.text = TRY(read_text(r, 0, kMaxTextBytes));
  } else {
    return Error::decode("broker: unknown request type");
  }
  TRY(r.finish());
  return request;
}

Bytes encode_broker_request(const BrokerRequest& request) {
  tls::Writer w;
  w.u8(kBrokerProtocolVersion);
  w.u8(static_cast<std::uint8_t>(request.type));
  if (request.type == BrokerRequestType::kConnect) {
    w.opaque(as_bytes(request.host));
    w.u16(request.port);
  } else {
    w.opaque(as_bytes(request.title));
    w.opaque(as_bytes(request.text));
  }
  return std::move(w).take();
}

ErrorOr<BrokerResponse> decode_broker_response(BytesView message) {
  if (message.size() > kMaxBrokerMessage) return Error::decode("broker: response too long");
  tls::Reader r(message);
  if (TRY(r.u8()) != kBrokerProtocolVersion) return Error::decode("broker: unknown protocol version");
  std::uint8_t status = TRY(r.u8());
  if (status > static_cast<std::uint8_t>(BrokerStatus::kRateLimited)) return Error::decode("broker: unknown status");
  BrokerResponse response{static_cast<BrokerStatus>(status), TRY(read_text(r, 0, kMaxMessageBytes))};
  TRY(r.finish());
  return response;
}

Bytes encode_broker_response(const BrokerResponse& response) {
  tls::Writer w;
  w.u8(kBrokerProtocolVersion);
  w.u8(static_cast<std::uint8_t>(response.status));
  std::string_view message = std::string_view(response.message).substr(0, kMaxMessageBytes);
  w.opaque(as_bytes(message));
  return std::move(w).take();
}

void Broker::audit(AuditEvent event, const std::string& detail) {
  // Used for refusals and failures: a refusal stands even if it cannot be
  // recorded. Grants check the append themselves (connect()).
  (void)audit_.append(event, app_id_, detail);
}

bool Broker::take_token() {
  auto now = options_.now();
  std::chrono::duration<double> elapsed = now - refilled_;
  refilled_ = now;
  tokens_ = std::min(options_.burst, tokens_ + elapsed.count() * options_.requests_per_second);
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

Broker::Outcome Broker::handle(BytesView message) {
  if (!take_token()) {
    if (over_limit_++ == 0) {
      char limit[96];
      std::snprintf(limit, sizeof limit, "%g/s, burst %g", options_.requests_per_second, options_.burst);
      audit(AuditEvent::kDenial,
            std::string("requests over the rate limit (") + limit + ") refused; counted until the rate falls");
    }
    return {{BrokerStatus::kRateLimited, "rate limited"}, {}};
  }
  if (over_limit_ > 0) {
    audit(AuditEvent::kDenial, std::to_string(over_limit_) + " requests refused over the rate limit");
    over_limit_ = 0;
  }
  auto request = decode_broker_request(message);
  if (!request) {
    audit(AuditEvent::kDenial, std::string("malformed broker request: ") + request.error().message());
    return {{BrokerStatus::kBadRequest, request.error().message()}, {}};
  }
  if (request->type == BrokerRequestType::kConnect) return connect(*request);
  return notify(*request);
}

Broker::Outcome Broker::connect(const BrokerRequest& request) {
  std::string endpoint = endpoint_text(request.host, request.port);
  const pkg::EndpointPattern* pattern = grants_.endpoint_for(request.host, request.port);
  if (pattern == nullptr) {
    audit(AuditEvent::kDenial, "connect " + endpoint + " refused: not a granted endpoint");
    return {{BrokerStatus::kDenied, "endpoint not granted"}, {}};
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  // A literal grant (an IPv4 pattern) is exactly that address: no resolver.
  if (pattern->text().find_first_not_of("0123456789.:*") == std::string::npos) hints.ai_flags |= AI_NUMERICHOST;
  addrinfo* raw = nullptr;
  std::string port_text = std::to_string(request.port);
  int rc = ::getaddrinfo(request.host.c_str(), port_text.c_str(), &hints, &raw);
  std::unique_ptr<addrinfo, AddrInfoDeleter> results(raw);
  if (rc != 0) {
    audit(AuditEvent::kConnection, "connect " + endpoint + " (granted by " + pattern->text() +
                                       ") failed: cannot resolve: " + ::gai_strerror(rc));
    return {{BrokerStatus::kFailed, "cannot resolve host"}, {}};
  }
  bool literal = (hints.ai_flags & AI_NUMERICHOST) != 0;
  std::string last_failure = "no usable address";
  for (const addrinfo* ai = results.get(); ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    if (!literal && is_local_address(ai->ai_addr)) {
      last_failure = "resolves to a local address " + address_text(ai->ai_addr);
      continue;
    }
    auto socket = connect_with_timeout(ai, options_.connect_timeout_ms);
    if (!socket) {
      last_failure = address_text(ai->ai_addr) + ": " + std::strerror(socket.error().errno_code());
      continue;
    }
    std::string detail = "connect " + endpoint + " granted by " + pattern->text() + ", connected to " +
                         address_text(ai->ai_addr);
    // No audit record, no connection: an unrecorded door is what the log exists to prevent.
    if (auto logged = audit_.append(AuditEvent::kConnection, app_id_, detail); !logged)
      return {{BrokerStatus::kFailed, "audit log unavailable"}, {}};
    return {{BrokerStatus::kGranted, "connected"}, std::move(*socket)};
  }
  audit(AuditEvent::kConnection, "connect " + endpoint + " (granted by " + pattern->text() + ") failed: " + last_failure);
  return {{BrokerStatus::kFailed, "connection failed"}, {}};
}

Broker::Outcome Broker::notify(const BrokerRequest& request) {
  if (!grants_.has(pkg::Capability::kNotifications)) {
    audit(AuditEvent::kDenial, "notification refused: capability not granted");
    return {{BrokerStatus::kDenied, "notifications not granted"}, {}};
  }
  audit(AuditEvent::kNotification, "notification: " + request.title + ": " + request.text);
  if (options_.on_notification) options_.on_notification(app_id_, request.title, request.text);
  return {{BrokerStatus::kGranted, "delivered"}, {}};
}

ErrorOr<void> Broker::serve(int socket) {
  std::uint8_t buffer[kMaxBrokerMessage + 1];
  for (;;) {
    iovec iov{buffer, sizeof buffer};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ECONNRESET) return {};
      return Error::system("recvmsg", errno);
    }
    if (n == 0) return {};  // the app's end is closed: the sandbox is gone
    bool got_descriptors = false;
    for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
      if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
      std::size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
        ::close(fd);
      }
      got_descriptors = true;
    }
    Outcome outcome;
    if (got_descriptors || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
      // The broker takes no descriptors from apps: nothing it does needs one,
      // and each is a way to smuggle a handle into pmosd.
      audit(AuditEvent::kDenial, "malformed broker request: too long or carrying descriptors");
      outcome.response = {BrokerStatus::kBadRequest, "request too long or carrying descriptors"};
    } else {
      outcome = handle(BytesView(buffer, static_cast<std::size_t>(n)));
    }
    auto sent = send_message(socket, encode_broker_response(outcome.response), outcome.socket.get());
    if (!sent) {
      if (sent.error().errno_code() == EPIPE || sent.error().errno_code() == ECONNRESET) return {};
      return sent.error();
    }
  }
}

}  // namespace pmos::device

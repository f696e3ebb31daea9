#pragma once

// The app side of the broker protocol (pmos/device/broker.h), for apps that
// run in a PMOS sandbox. Header-only and libc-only on purpose: an app links
// nothing of PMOS to talk to its broker, and this header is the reference a
// port to another language follows. pmosd passes the broker socket as fd 3
// (kBrokerFd) and says so in $PMOS_BROKER_FD.
//
// Functions are blocking and may be called from several threads only if the
// caller serializes them (one request, one response on one socket).

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace pmos::broker_client {

inline constexpr int kBrokerFd = 3;

namespace detail {

inline void put_length(std::string& out, std::size_t n) {
  // RFC 9420 §2.1.2 variable-length integer, minimal (the broker refuses
  // anything else). Fields here never reach the 4-byte form's limit.
  if (n < 64) {
    out.push_back(static_cast<char>(n));
  } else if (n < 16384) {
    out.push_back(static_cast<char>(0x40 | (n >> 8)));
    out.push_back(static_cast<char>(n & 0xff));
  } else {
    out.push_back(static_cast<char>(0x80 | ((n >> 24) & 0x3f)));
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    out.push_back(static_cast<char>((n >> 8) & 0xff));
    out.push_back(static_cast<char>(n & 0xff));
  }
}

// Sends `request`, receives the response; returns the status (0 granted) or
// -1 on a transport error, with `message` set and `*fd` the passed socket (or -1).
inline int exchange(int broker_fd, const std::string& request, std::string* message, int* fd) {
  *fd = -1;
  while (::send(broker_fd, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
    if (errno != EINTR) {
      *message = std::string("broker unreachable: ") + std::strerror(errno);
      return -1;
    }
  }
  unsigned char buffer[2049];
  iovec iov{buffer, sizeof buffer};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  while ((n = ::recvmsg(broker_fd, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); n >= 0 && c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
      std::memcpy(fd, CMSG_DATA(c), sizeof(int));
  }
  // Response: version 1, status, message opaque<V> (< 16384 bytes).
  std::size_t length = 0, header = 0;
  if (n >= 3 && buffer[0] == 1) {
    if ((buffer[2] >> 6) == 0) {
      length = buffer[2];
      header = 3;
    } else if ((buffer[2] >> 6) == 1 && n >= 4) {
      length = (static_cast<std::size_t>(buffer[2] & 0x3f) << 8) | buffer[3];
      header = 4;
    }
  }
  if (header == 0 || static_cast<std::size_t>(n) != header + length || (msg.msg_flags & MSG_TRUNC) != 0) {
    if (*fd >= 0) ::close(*fd);
    *fd = -1;
    *message = n == 0 ? "broker closed the connection" : "malformed broker response";
    return -1;
  }
  message->assign(reinterpret_cast<const char*>(buffer) + header, length);
  if (buffer[1] != 0 && *fd >= 0) {
    ::close(*fd);
    *fd = -1;
  }
  return buffer[1];
}

}  // namespace detail

// Asks the broker for a TCP connection to host:port. Returns the connected
// socket, or -1 with `error` saying why (the broker's words: "endpoint not
// granted", "connection failed" ...).
inline int connect(int broker_fd, std::string_view host, std::uint16_t port, std::string* error) {
  std::string request = {1, 1};
  detail::put_length(request, host.size());
  request.append(host);
  request.push_back(static_cast<char>(port >> 8));
  request.push_back(static_cast<char>(port & 0xff));
  std::string message;
  int fd = -1;
  int status = detail::exchange(broker_fd, request, &message, &fd);
  if (status != 0 || fd < 0) {
    if (error) *error = status == 0 ? "broker granted but sent no socket" : message;
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

// Posts a notification. Returns true if the broker accepted it.
inline bool notify(int broker_fd, std::string_view title, std::string_view text, std::string* error) {
  std::string request = {1, 2};
  detail::put_length(request, title.size());
  request.append(title);
  detail::put_length(request, text.size());
  request.append(text);
  std::string message;
  int fd = -1;
  int status = detail::exchange(broker_fd, request, &message, &fd);
  if (fd >= 0) ::close(fd);
  if (status != 0 && error) *error = message;
  return status == 0;
}

}  // namespace pmos::broker_client

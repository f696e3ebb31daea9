#include "pmos/device/control.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "pmos/base/codec.h"

namespace pmos::device {
namespace {

constexpr std::size_t kMaxAppIdBytes = 128;

ErrorOr<void> read_exact(int socket, std::uint8_t* out, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::recv(socket, out, size, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::system("recv", errno);
    }
    if (n == 0) return Error::decode("control: connection closed inside a frame");
    out += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

bool tls_enum_valid(ControlOp op) {
  auto v = static_cast<std::uint8_t>(op);
  return v >= 1 && v <= 6;
}
bool tls_enum_valid(ControlStatus status) {
  auto v = static_cast<std::uint8_t>(status);
  return v >= 1 && v <= 3;
}

ErrorOr<ControlRequest> decode_control_request(BytesView body) {
  ControlRequest request = TRY(tls::decode<ControlRequest>(body));
  if (request.app_id.size() > kMaxAppIdBytes) return Error::decode("control: app id too long");
  return request;
}

ErrorOr<ControlResponse> decode_control_response(BytesView body) { return tls::decode<ControlResponse>(body); }

ErrorOr<void> send_frame(int socket, BytesView body, int pass_fd) {
  if (body.size() > kMaxControlFrame) return Error::invalid_argument("control: frame too long");
  Bytes frame(4);
  auto size = static_cast<std::uint32_t>(body.size());
  frame[0] = static_cast<std::uint8_t>(size >> 24);
  frame[1] = static_cast<std::uint8_t>(size >> 16);
  frame[2] = static_cast<std::uint8_t>(size >> 8);
  frame[3] = static_cast<std::uint8_t>(size);
  append(frame, body);
  std::size_t done = 0;
  bool fd_sent = pass_fd < 0;
  while (done < frame.size()) {
    iovec iov{frame.data() + done, frame.size() - done};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (!fd_sent) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
      cmsg->cmsg_level = SOL_SOCKET;
      cmsg->cmsg_type = SCM_RIGHTS;
      cmsg->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(cmsg), &pass_fd, sizeof(int));
    }
    ssize_t n = ::sendmsg(socket, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::system("sendmsg", errno);
    }
    fd_sent = true;
    done += static_cast<std::size_t>(n);
  }
  return {};
}

ErrorOr<Bytes> receive_frame(int socket, UniqueFd* received) {
  // The header with recvmsg: a descriptor travels with the frame's first bytes.
  std::uint8_t header[4];
  std::size_t got = 0;
  bool refused_fd = false;
  while (got < sizeof header) {
    iovec iov{header + got, sizeof header - got};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::system("recvmsg", errno);
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        if (received != nullptr && !*received && i == 0) {
          received->reset(fd);
        } else {
          ::close(fd);
          refused_fd = true;
        }
      }
    }
    if ((msg.msg_flags & MSG_CTRUNC) != 0) refused_fd = true;
    if (n == 0) {
      if (got == 0) return Error::not_found("control: connection closed");
      return Error::decode("control: connection closed inside a frame header");
    }
    got += static_cast<std::size_t>(n);
  }
  if (refused_fd) return Error::decode("control: unexpected descriptors with a frame");
  std::size_t size = (std::size_t{header[0]} << 24) | (std::size_t{header[1]} << 16) |
                     (std::size_t{header[2]} << 8) | header[3];
  if (size > kMaxControlFrame) return Error::decode("control: frame too long");
  Bytes body(size);
  TRY(read_exact(socket, body.data(), size));
  return body;
}

ErrorOr<ControlResponse> control_call(const std::string& socket_path, const ControlRequest& request,
                                      int pass_fd) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof address.sun_path) return Error::invalid_argument("control: socket path too long");
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
  UniqueFd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket) return Error::system("socket", errno);
  if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
    return Error::system("connect", errno);
  ErrorOr<void> sent = send_frame(socket.get(), tls::encode(request), pass_fd);
  // pmosd may refuse a connection (wrong peer uid) before reading anything
  // and close it; its answer is still there to read, and says why.
  if (!sent.has_value() && sent.error().errno_code() != EPIPE) return sent.error();
  ErrorOr<Bytes> body = receive_frame(socket.get(), nullptr);
  if (!body.has_value()) return sent.has_value() ? body.error() : sent.error();
  return decode_control_response(*body);
}

}  // namespace pmos::device

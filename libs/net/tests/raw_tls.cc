#include "raw_tls.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include <openssl/err.h>

namespace pmos::net::testing {
namespace {

void set_receive_timeout(int fd, Millis timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

RawSocket::RawSocket(std::uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
  set_receive_timeout(fd.get(), Millis(10'000));
  fd_ = std::move(fd);
}

bool RawSocket::send(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool RawSocket::closed_within(Millis timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<Millis>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n == 0) return true;
    if (n < 0 && errno != EINTR && errno != EAGAIN) return true;  // reset
  }
}

RawTlsClient::RawTlsClient(std::uint16_t port, int max_version, const Credential* cert) : socket_(port) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_max_proto_version(ctx_, max_version);
  if (cert) {
    SSL_CTX_use_certificate(ctx_, cert->cert.get());
    SSL_CTX_use_PrivateKey(ctx_, cert->key.get());
  }
  // The server's identity is not what these tests are about.
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
  ssl_ = SSL_new(ctx_);
  SSL_set_fd(ssl_, socket_.fd());
}

RawTlsClient::~RawTlsClient() {
  SSL_free(ssl_);
  SSL_CTX_free(ctx_);
}

bool RawTlsClient::handshake() {
  if (!socket_.connected()) {
    error_ = "connect failed";
    return false;
  }
  ERR_clear_error();
  if (SSL_connect(ssl_) == 1) return true;
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  error_ = buf;
  return false;
}

bool RawTlsClient::write(std::string_view data) {
  return SSL_write(ssl_, data.data(), static_cast<int>(data.size())) == static_cast<int>(data.size());
}

bool RawTlsClient::closed_within(Millis timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<Millis>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (SSL_pending(ssl_) == 0) {
      pollfd p{socket_.fd(), POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
    }
    ERR_clear_error();
    int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) continue;
    int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ) continue;
    return true;  // close_notify, alert or EOF
  }
}

}  // namespace pmos::net::testing

#include "tls_stream.h"

#include <cerrno>

namespace pmos::net::detail {

ServerTlsStream::ServerTlsStream(tcp::socket socket, SSL_CTX* context)
    : socket_(std::move(socket)), ssl_(SSL_new(context)) {
  if (ssl_ == nullptr) return;
  ErrorCode ec;
  // OpenSSL does the reads and writes: they must return EAGAIN, not block
  // the I/O thread.
  socket_.native_non_blocking(true, ec);
  if (ec || SSL_set_fd(ssl_, socket_.native_handle()) != 1) {
    SSL_free(ssl_);
    ssl_ = nullptr;
    return;
  }
  SSL_set_accept_state(ssl_);
  // RELEASE_BUFFERS: the record buffers are freed whenever empty, which is
  // what makes an idle connection cheap. PARTIAL_WRITE and
  // ACCEPT_MOVING_WRITE_BUFFER: the write semantics of async_write_some.
  SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                         SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Several records per recv(2) when the peer pipelines; the buffer is still
  // released once drained.
  SSL_set_read_ahead(ssl_, 1);
}

ServerTlsStream::~ServerTlsStream() {
  // SSL_set_fd made a socket BIO without BIO_CLOSE: the socket closes itself.
  if (ssl_ != nullptr) SSL_free(ssl_);
}

ServerTlsStream::Step ServerTlsStream::failed_call(int ret, ErrorCode& ec) {
  const int saved_errno = errno;
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ: return Step::kWantRead;
    case SSL_ERROR_WANT_WRITE: return Step::kWantWrite;
    case SSL_ERROR_ZERO_RETURN:
      // The peer's close_notify: the end of its data, as for Asio's ssl::stream.
      ec = asio::error::eof;
      return Step::kFailed;
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) {
        ec = saved_errno != 0 ? ErrorCode(saved_errno, asio::error::get_system_category())
                              : ErrorCode(asio::ssl::error::stream_truncated);
        ERR_clear_error();
        return Step::kFailed;
      }
      [[fallthrough]];
    default: {
      const unsigned long error = ERR_peek_error();
      // OpenSSL 3 reports a TCP FIN without close_notify this way.
      if (ERR_GET_REASON(error) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        ec = asio::ssl::error::stream_truncated;
      else
        ec = ErrorCode(static_cast<int>(error), asio::error::get_ssl_category());
      ERR_clear_error();
      return Step::kFailed;
    }
  }
}

ServerTlsStream::Step ServerTlsStream::handshake_step(ErrorCode& ec) {
  errno = 0;
  const int ret = SSL_do_handshake(ssl_);
  return ret == 1 ? Step::kDone : failed_call(ret, ec);
}

ServerTlsStream::Step ServerTlsStream::read_step(asio::mutable_buffer target, std::size_t& n,
                                                 ErrorCode& ec) {
  if (target.size() == 0) {
    n = 0;
    return Step::kDone;
  }
  errno = 0;
  const int ret = SSL_read_ex(ssl_, target.data(), target.size(), &n);
  return ret == 1 ? Step::kDone : failed_call(ret, ec);
}

ServerTlsStream::Step ServerTlsStream::write_step(asio::const_buffer source, std::size_t& n,
                                                  ErrorCode& ec) {
  if (source.size() == 0) {
    n = 0;
    return Step::kDone;
  }
  errno = 0;
  const int ret = SSL_write_ex(ssl_, source.data(), source.size(), &n);
  return ret == 1 ? Step::kDone : failed_call(ret, ec);
}

ServerTlsStream::Step ServerTlsStream::shutdown_step(ErrorCode& ec) {
  // Held writes go out before close_notify (tls_stream.h, hold_writes).
  holding_ = false;
  while (pending_sent_ < pending_.size()) {
    std::size_t n = 0;
    const Step step = write_step(asio::buffer(pending_) + pending_sent_, n, ec);
    if (step != Step::kDone) return step;  // a WANT_* retry repeats the same call
    pending_sent_ += n;
  }
  pending_ = {};
  pending_sent_ = 0;
  errno = 0;
  int ret = SSL_shutdown(ssl_);
  // 0: our close_notify is out. The peer's may already sit in the read-ahead
  // buffer, where waiting for the socket would not see it: call again, which
  // reads it (1) or asks for the socket (WANT_READ).
  if (ret == 0) {
    errno = 0;
    ret = SSL_shutdown(ssl_);
  }
  if (ret == 1) return Step::kDone;
  if (ret == 0) return Step::kWantRead;
  return failed_call(ret, ec);
}

}  // namespace pmos::net::detail

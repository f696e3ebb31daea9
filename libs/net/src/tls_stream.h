#pragma once

// Private to libs/net: the server's TLS stream (docs/net.md, "Memory per
// connection").
//
// Asio's ssl::stream runs OpenSSL on a BIO pair and copies every byte through
// two more buffers of its own: four 17 KiB buffers per connection, held for
// the connection's whole life, idle or not (68 KiB of the 101 KiB an idle
// relay connection cost). This stream gives OpenSSL the socket's fd instead:
// OpenSSL reads and writes the non-blocking socket itself, and the stream only
// waits for readiness when OpenSSL asks for it (SSL_ERROR_WANT_READ/WRITE).
// With SSL_MODE_RELEASE_BUFFERS, OpenSSL frees its record buffers whenever
// they are empty, so an idle connection holds no I/O buffer at all.
//
// It is an AsyncStream for Beast (HTTP and WebSocket) with the subset of
// ssl::stream's interface the server uses. Everything runs on the
// connection's strand: SSL objects are not thread-safe, but one read and one
// write may be outstanding at once, interleaved on the strand, which OpenSSL
// allows (a WANT_* retry always repeats the same call with the same buffer).
//
// The SSL object refers to the socket by fd number: once the socket is
// closed, that number may belong to another connection, so every operation
// checks is_open() before it lets OpenSSL near the fd.

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "asio_common.h"

namespace pmos::net::detail {

class ServerTlsStream {
 public:
  using executor_type = tcp::socket::executor_type;
  using next_layer_type = tcp::socket;

  // Takes an accepted socket. The SSL object is made here; if OpenSSL cannot
  // make one (out of memory), the handshake fails.
  ServerTlsStream(tcp::socket socket, SSL_CTX* context);
  ~ServerTlsStream();
  ServerTlsStream(const ServerTlsStream&) = delete;
  ServerTlsStream& operator=(const ServerTlsStream&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  tcp::socket& next_layer() { return socket_; }
  SSL* native_handle() { return ssl_; }

  // What an OpenSSL call needs next.
  enum class Step { kDone, kWantRead, kWantWrite, kFailed };

  template <typename Token>
  auto async_handshake(Token&& token) {
    return async_run(
        [this](ErrorCode& ec, std::size_t&) { return handshake_step(ec); },
        std::forward<Token>(token));
  }

  // Sends close_notify and waits for the peer's.
  template <typename Token>
  auto async_shutdown(Token&& token) {
    return async_run([this](ErrorCode& ec, std::size_t&) { return shutdown_step(ec); },
                     std::forward<Token>(token));
  }

  template <typename MutableBufferSequence, typename Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    asio::mutable_buffer target;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
      if (asio::mutable_buffer(*it).size() != 0) {
        target = *it;
        break;
      }
    }
    return async_run_sized(
        [this, target](ErrorCode& ec, std::size_t& n) { return read_step(target, n, ec); },
        std::forward<Token>(token));
  }

  // Beast hands a WebSocket frame over as header + payload and an HTTP
  // response as header + body. Written buffer by buffer, each would be its
  // own TLS record and its own send(2); small sequences are copied into one
  // buffer first, so one message costs one record and one syscall.
  //
  // Held writes (hold_writes()): the bytes are copied into a pending buffer
  // and the write completes at once; the first write after release_writes()
  // sends the pending bytes ahead of its own, so several WebSocket messages
  // of one connection leave in one TLS record and one send(2) (loopback TCP
  // costs a syscall and the receiver's TCP path per send). A held write that
  // would take the pending buffer past one record is written out as a
  // released one.
  template <typename ConstBufferSequence, typename Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    asio::const_buffer source;
    std::size_t total = 0;
    std::size_t count = 0;
    for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
      const asio::const_buffer b(*it);
      if (b.size() == 0) continue;
      if (count == 0) source = b;
      ++count;
      total += b.size();
    }
    std::vector<std::uint8_t> gathered;
    if (holding_ && total != 0 && pending_.size() + total <= kGatherBytes) {
      append(pending_, buffers, total);
      return async_run_sized(
          [total](ErrorCode&, std::size_t& n) {
            n = total;
            return Step::kDone;
          },
          std::forward<Token>(token));
    }
    // The pending bytes go first, whole; what the caller is told it wrote
    // counts only its own bytes.
    const std::size_t prefix = pending_.size() - pending_sent_;
    if (prefix != 0) {
      gathered = std::move(pending_);
      pending_ = {};
      gathered.erase(gathered.begin(), gathered.begin() + static_cast<std::ptrdiff_t>(pending_sent_));
      pending_sent_ = 0;
      append(gathered, buffers, std::min(total, kGatherBytes));
    } else if (count > 1 && source.size() < kGatherBytes) {
      append(gathered, buffers, std::min(total, kGatherBytes));
    }
    return async_run_sized(
        [this, source, prefix, written = std::size_t{0}, gathered = std::move(gathered)](
            ErrorCode& ec, std::size_t& n) mutable {
          if (gathered.empty()) return write_step(source, n, ec);
          // Until the pending bytes are out, a partial write is not the
          // caller's: keep writing (a WANT_* retry repeats the same call).
          for (;;) {
            std::size_t done = 0;
            const Step step = write_step(asio::buffer(gathered) + written, done, ec);
            if (step != Step::kDone) return step;
            written += done;
            if (written > prefix || written == gathered.size()) {
              n = written - prefix;
              return Step::kDone;
            }
          }
        },
        std::forward<Token>(token));
  }

  // Between hold_writes() and release_writes(), writes are gathered (see
  // async_write_some): the WebSocket writer's, and also any control frame
  // Beast writes meanwhile (a pong, or the close frame that answers the
  // peer's). Those leave with the writer's next released write, or, when
  // Beast tears the connection down right after its close frame, first
  // thing in async_shutdown: held bytes are never dropped on a clean close.
  // Strand only.
  void hold_writes() { holding_ = true; }
  void release_writes() { holding_ = false; }

 private:
  // One TLS record's worth of plaintext.
  static constexpr std::size_t kGatherBytes = 16 * 1024;

  // Runs `step` until it is done or fails, waiting on the socket whenever
  // OpenSSL asks for it. Completion is never inline: a result ready at once
  // is posted, as Asio's own sockets do, so callers' loops cannot recurse.
  // kSized: completes with (error, bytes), else with (error).
  template <bool kSized, typename StepFn>
  struct Op {
    Op(ServerTlsStream* s, StepFn f) : stream(s), step(std::move(f)) {}

    ServerTlsStream* stream;
    StepFn step;
    bool started = false;
    bool posted = false;
    ErrorCode result;
    std::size_t size = 0;

    template <typename Self>
    void operator()(Self& self, ErrorCode ec = {}) {
      if (posted) {
        finish(self);
        return;
      }
      const bool first = !started;
      started = true;
      Step next = Step::kFailed;
      if (ec) {
        result = ec;
      } else if (!stream->socket_.is_open() || stream->ssl_ == nullptr) {
        result = asio::error::bad_descriptor;
      } else {
        ERR_clear_error();
        next = step(result, size);
      }
      switch (next) {
        case Step::kWantRead:
          stream->socket_.async_wait(tcp::socket::wait_read, std::move(self));
          return;
        case Step::kWantWrite:
          stream->socket_.async_wait(tcp::socket::wait_write, std::move(self));
          return;
        case Step::kDone:
        case Step::kFailed: break;
      }
      if (first) {
        posted = true;
        asio::post(std::move(self));
        return;
      }
      finish(self);
    }

    template <typename Self>
    void finish(Self& self) {
      if constexpr (kSized)
        self.complete(result, size);
      else
        self.complete(result);
    }
  };

  template <typename StepFn, typename Token>
  auto async_run_sized(StepFn step, Token&& token) {
    return asio::async_compose<Token, void(ErrorCode, std::size_t)>(Op<true, StepFn>(this, std::move(step)),
                                                                    token, socket_);
  }

  template <typename StepFn, typename Token>
  auto async_run(StepFn step, Token&& token) {
    return asio::async_compose<Token, void(ErrorCode)>(Op<false, StepFn>(this, std::move(step)), token,
                                                       socket_);
  }

  // Appends up to `limit` bytes of `buffers` to `out`.
  template <typename ConstBufferSequence>
  static void append(std::vector<std::uint8_t>& out, const ConstBufferSequence& buffers, std::size_t limit) {
    const std::size_t start = out.size();
    out.resize(start + limit);
    std::size_t at = start;
    for (auto it = asio::buffer_sequence_begin(buffers);
         it != asio::buffer_sequence_end(buffers) && at < out.size(); ++it) {
      const asio::const_buffer b(*it);
      const std::size_t n = std::min(b.size(), out.size() - at);
      if (n != 0) std::memcpy(out.data() + at, b.data(), n);
      at += n;
    }
  }

  // Maps a failed OpenSSL call (ret <= 0) to the next step, setting ec on failure.
  Step failed_call(int ret, ErrorCode& ec);
  Step handshake_step(ErrorCode& ec);
  Step read_step(asio::mutable_buffer target, std::size_t& n, ErrorCode& ec);
  Step write_step(asio::const_buffer source, std::size_t& n, ErrorCode& ec);
  Step shutdown_step(ErrorCode& ec);

  tcp::socket socket_;
  SSL* ssl_;
  bool holding_ = false;
  std::vector<std::uint8_t> pending_;  // held writes, not yet given to OpenSSL
  std::size_t pending_sent_ = 0;       // of pending_, written by shutdown_step
};

struct TlsTeardownOp {
  ServerTlsStream& stream;
  beast::role_type role;
  int state = 0;
  ErrorCode first{};

  template <typename Self>
  void operator()(Self& self, ErrorCode ec = {}) {
    switch (state) {
      case 0:
        state = 1;
        stream.async_shutdown(std::move(self));
        return;
      case 1: {
        state = 2;
        first = ec;
        using beast::websocket::async_teardown;
        async_teardown(role, stream.next_layer(), std::move(self));
        return;
      }
      default: self.complete(first ? first : ec);
    }
  }
};

// Beast's end of a WebSocket on this stream (found by ADL): close_notify,
// then the TCP teardown, as Beast does for ssl::stream.
template <typename Handler>
void async_teardown(beast::role_type role, ServerTlsStream& stream, Handler&& handler) {
  asio::async_compose<Handler, void(ErrorCode)>(TlsTeardownOp{stream, role}, handler, stream);
}

}  // namespace pmos::net::detail

#include "pmos/net/server.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "asio_common.h"
#include "pmos/base/check.h"
#include "small_fifo.h"
#include "tls_context.h"
#include "tls_stream.h"

namespace pmos::net {

using namespace detail;
using namespace asio::experimental::awaitable_operators;

namespace {

class Connection;

// Server connections use ServerTlsStream (tls_stream.h: no per-connection
// record buffers while idle); the client keeps Asio's ssl::stream.
using ServerWsStream = websocket::stream<ServerTlsStream>;

std::optional<Method> parse_method(http::verb verb) {
  switch (verb) {
    case http::verb::get: return Method::kGet;
    case http::verb::head: return Method::kHead;
    case http::verb::post: return Method::kPost;
    case http::verb::put: return Method::kPut;
    case http::verb::patch: return Method::kPatch;
    case http::verb::delete_: return Method::kDelete;
    case http::verb::options: return Method::kOptions;
    default: return std::nullopt;
  }
}

// The peer went away (or the TLS layer did): nothing to answer.
bool is_disconnect(const ErrorCode& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
         ec == asio::ssl::error::stream_truncated || ec.category() == asio::error::get_ssl_category();
}

// A handler's Error as a response. Internal messages stay in the log: they can
// describe server internals an attacker should not see.
Response error_response(const Error& error) {
  switch (error.category()) {
    case ErrorCategory::kInvalidArgument:
    case ErrorCategory::kDecode: return Response::error(400, error.message());
    case ErrorCategory::kNotFound: return Response::error(404, error.message());
    default: return Response::error(500, "internal error");
  }
}

}  // namespace

struct Server::Impl {
  struct Entry {
    std::weak_ptr<Connection> connection;
    std::optional<Sha256Fingerprint> peer;
  };

  Impl(ServerConfig cfg, Router r, std::unique_ptr<asio::ssl::context> ctx)
      : config(std::move(cfg)),
        router(std::move(r)),
        max_body_any(router.max_body_bytes(config.limits.max_body_bytes)),
        ssl(std::move(ctx)),
        io(std::max(1, config.threads)),
        accept_strand(asio::make_strand(io)),
        acceptor(accept_strand) {}

  void log(LogLevel level, std::string_view message) const {
    if (config.logger) config.logger(level, message);
  }
  asio::awaitable<void> accept_loop();
  void unregister(std::uint64_t id);
  void set_peer(std::uint64_t id, const Sha256Fingerprint& fingerprint);
  std::vector<std::shared_ptr<Connection>> live_connections();

  const ServerConfig config;
  const Router router;
  const std::size_t max_body_any;

  // Connection registry, for kill_peer, shutdown and the connection limit.
  mutable std::mutex mu;
  std::condition_variable all_closed;
  std::unordered_map<std::uint64_t, Entry> connections;  // guarded by mu
  std::uint64_t next_id = 1;                             // guarded by mu
  bool draining = false;                                 // guarded by mu
  // The same, readable without mu: a response being finished when shutdown
  // starts already says "Connection: close".
  std::atomic<bool> stopping{false};

  // Declared after the registry: destroying io_context destroys the frames
  // of unfinished coroutines, whose Connections unregister themselves.
  std::unique_ptr<asio::ssl::context> ssl;
  asio::io_context io;
  asio::strand<asio::io_context::executor_type> accept_strand;
  tcp::acceptor acceptor;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;

  std::mutex lifecycle_mu;
  enum class State { kCreated, kRunning, kStopped } state = State::kCreated;  // lifecycle_mu
};

namespace {

// One accepted connection through all its phases: TLS handshake, HTTP
// requests, and possibly a WebSocket session. Owned by shared_ptr: the
// connection's coroutines, the WebSocket writer, its timers' handlers and the
// application (as a WebSocketSession) each hold one. Everything except the
// WebSocketSession methods and drain()/kill() runs on the connection's strand.
class Connection final : public WebSocketSession, public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server::Impl& server, tcp::socket socket, std::uint64_t id)
      : server_(server),
        limits_(server.config.limits),
        id_(id),
        executor_(socket.get_executor()),
        ws_(std::move(socket), server.ssl->native_handle()),
        timer_(executor_),
        wake_(executor_),
        hard_close_(executor_),
        write_timer_(executor_) {}

  ~Connection() override { server_.unregister(id_); }

  // The connection's coroutine; holds the connection alive while it runs.
  static asio::awaitable<void> run(std::shared_ptr<Connection> self) {
    co_await self->run_phases();
  }

  const asio::any_io_executor& executor() const { return executor_; }

  asio::awaitable<void> run_phases() {
    const bool secured = co_await handshake();
    if (!secured) {
      close_socket();
      co_return;
    }
    // The WebSocket phase runs here, not inside serve_http: serve_http's
    // frame (parser, buffers, request) is gone by then, which is memory an
    // idle WebSocket no longer holds.
    // On the heap, and handed over whole: a request held in this frame (or
    // as serve_websocket's parameters) would stay in the coroutine frames,
    // moved-from but full size, for the WebSocket's whole life.
    std::unique_ptr<Upgrade> upgrade = co_await serve_http();
    if (upgrade) co_await serve_websocket(std::move(upgrade));
    close_socket();
  }

  // Graceful shutdown: finish the request in progress, then close;
  // WebSockets get kGoingAway. Thread-safe.
  void drain() {
    asio::post(executor_, [self = shared_from_this()] {
      self->stopping_ = true;
      switch (self->phase_) {
        case Phase::kHandshake:
        case Phase::kHttpIdle: self->timer_.cancel(); break;  // ends the wait: see serve_http
        case Phase::kHttpBusy: break;  // serve_http closes after the response
        case Phase::kWebSocket: self->close(CloseCode::kGoingAway, "server shutting down"); break;
      }
    });
  }

  // Revocation: WebSockets get a close frame and are cut at most
  // ws_close_timeout later; anything else is cut now. Thread-safe.
  void kill() {
    asio::post(executor_, [self = shared_from_this()] {
      self->stopping_ = true;
      // Before the WebSocket is open there is no close handshake to run.
      if (self->phase_ != Phase::kWebSocket ||
          !self->request_close(CloseCode::kPolicyViolation, "peer revoked"))
        self->close_socket();
    });
  }

  // Past the shutdown deadline. Thread-safe.
  void force_close() {
    asio::post(executor_, [self = shared_from_this()] { self->close_socket(); });
  }

  // WebSocketSession.
  bool send(Bytes message) override {
    bool overflow = false;
    bool wake = false;
    {
      std::lock_guard lock(ws_mu_);
      if (ws_state_ != WsState::kOpen) return false;
      if (queue_.size() >= limits_.ws_queue_depth) {
        overflow = true;
      } else {
        queue_.push_back(std::move(message));
        wake = !wake_pending_;
        wake_pending_ = true;
      }
    }
    if (overflow) {
      // A slow consumer: buffering more would let one peer exhaust our memory.
      close(CloseCode::kPolicyViolation, "outgoing queue full");
      return false;
    }
    if (wake) asio::post(executor_, [self = shared_from_this()] { self->wake_.cancel(); });
    return true;
  }

  void close(CloseCode code, std::string reason) override { request_close(code, std::move(reason)); }

  const Request& request() const override { return ws_request_; }
  std::uint64_t id() const override { return id_; }

 private:
  enum class Phase { kHandshake, kHttpIdle, kHttpBusy, kWebSocket };
  enum class WsState { kNone, kOpen, kClosing, kClosed };

  // Starts the close handshake; false if the WebSocket is not open.
  bool request_close(CloseCode code, std::string reason) {
    {
      std::lock_guard lock(ws_mu_);
      if (ws_state_ != WsState::kOpen) return false;
      ws_state_ = WsState::kClosing;
      close_request_ = CloseInfo{static_cast<std::uint16_t>(code), std::move(reason)};
      queue_.clear();
    }
    asio::post(executor_, [self = shared_from_this()] {
      self->wake_.cancel();
      // The backstop: the close frame may sit behind a write the peer never
      // reads. Beast's own close timeout cannot fire before that write ends.
      self->hard_close_.expires_after(self->limits_.ws_close_timeout);
      self->hard_close_.async_wait([self](ErrorCode ec) {
        if (!ec) self->close_socket();
      });
    });
    return true;
  }

  ServerTlsStream& tls() { return ws_.next_layer(); }

  void close_socket() {
    ErrorCode ignored;
    auto& socket = beast::get_lowest_layer(ws_);
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  // Phase 1: TLS. Limit: handshake_timeout, from accept to a finished
  // handshake, so a client that sends nothing (or garbage slowly) costs a
  // socket for at most that long.
  asio::awaitable<bool> handshake() {
    phase_ = Phase::kHandshake;
    ErrorCode ignored;
    beast::get_lowest_layer(ws_).set_option(tcp::no_delay(true), ignored);
    timer_.expires_after(limits_.handshake_timeout);
    auto result = co_await (tls().async_handshake(kUse) ||
                            timer_.async_wait(kUse));
    if (result.index() == 1) {
      server_.log(LogLevel::kInfo, "TLS handshake timed out");
      co_return false;
    }
    // g++ 12.2 miscompiled this file's coroutines (SIGILL on resume: a
    // corrupted frame) while they had structured bindings in if-initialisers
    // and co_await inside if conditions. Keep both out of coroutines here.
    const ErrorCode ec = std::get<0>(std::get<0>(result));
    if (ec) {
      server_.log(LogLevel::kInfo, "TLS handshake failed: " + ec.message());
      co_return false;
    }
    SSL* ssl = tls().native_handle();
    // Resumption is off (tls_context.cc); a resumed session would not have
    // passed accept_peer, so refuse one should it ever happen.
    if (SSL_session_reused(ssl)) co_return false;
    if (X509* cert = SSL_get0_peer_certificate(ssl)) {
      if (SSL_get_verify_result(ssl) != X509_V_OK) co_return false;
      auto peer = PeerCertificate::from_x509(cert);
      if (!peer) co_return false;
      peer_ = std::move(peer.value());
      server_.set_peer(id_, peer_->sha256);
      // Ask again now that kill_peer can find us: a revocation that landed
      // between the verify callback and set_peer would otherwise be missed.
      const auto& accept = server_.config.tls.accept_peer;
      if (accept && !accept(*peer_)) co_return false;
    }
    co_return true;
  }

  // What serve_http hands to the WebSocket phase.
  struct Upgrade {
    http::request<http::string_body> message;
    Request request;
    const WebSocketHandlers* handlers;
  };

  // Phase 2: HTTP requests on the connection, until the peer is done, a
  // limit is hit, or the request upgrades to a WebSocket. Limits: header and
  // body size per request (the body limit per route), request_timeout from
  // the start of waiting until the request is read, write_timeout per response.

  asio::awaitable<std::unique_ptr<Upgrade>> serve_http() {
    beast::flat_buffer buffer;
    for (;;) {
      if (stopping_) break;
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
      parser.body_limit(server_.max_body_any);

      phase_ = Phase::kHttpIdle;
      timer_.expires_after(limits_.request_timeout);
      auto header = co_await (http::async_read_header(tls(), buffer, parser, kUse) ||
                              timer_.async_wait(kUse));
      if (header.index() == 1) break;  // timed out, or drain() ended the wait
      phase_ = Phase::kHttpBusy;
      if (const ErrorCode ec = std::get<0>(std::get<0>(header)); ec) {
        if (is_disconnect(ec)) break;
        if (ec == http::error::header_limit) {
          co_await write_response(Response::error(431, "request header too large"), 11, false);
        } else if (ec == http::error::body_limit) {
          co_await write_response(Response::error(413, "request body too large"), 11, false);
        } else {
          co_await write_response(Response::error(400, "malformed request"), 11, false);
        }
        break;
      }

      auto& message = parser.get();
      const unsigned version = message.version();
      std::optional<Method> method = parse_method(message.method());
      if (!method) {
        co_await write_response(Response::error(501, "method not implemented"), version, false);
        break;
      }
      Request request;
      request.method = *method;
      request.target = std::string(message.target());
      auto query = request.target.find('?');
      request.path = request.target.substr(0, query);
      if (query != std::string::npos) request.query = request.target.substr(query + 1);
      for (const auto& field : message) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        request.headers.emplace_back(std::move(name), std::string(field.value()));
      }
      request.peer = peer_;

      const bool upgrade = websocket::is_upgrade(message);
      Router::Match match = server_.router.match(*method, request.path, upgrade);
      // A body we did not read leaves the connection unusable: close after answering.
      if (match.status == Router::MatchStatus::kNotFound) {
        co_await write_response(Response::error(404, "not found"), version, parser.is_done());
        if (!parser.is_done()) break;
        continue;
      }
      if (match.status == Router::MatchStatus::kMethodNotAllowed) {
        Response response = Response::error(405, "method not allowed");
        response.headers.emplace_back("allow", match.allow);
        co_await write_response(std::move(response), version, parser.is_done());
        if (!parser.is_done()) break;
        continue;
      }
      const Router::Route& route = *match.route;
      request.path_params = std::move(match.params);
      // The device routes: without a verified client certificate an attacker
      // would reach a device's queue anonymously.
      if (route.options.auth == PeerAuth::kClientCertificate && !peer_) {
        co_await write_response(Response::error(403, "client certificate required"), version,
                                parser.is_done());
        if (!parser.is_done()) break;
        continue;
      }

      const std::size_t body_limit =
          route.options.max_body_bytes != 0 ? route.options.max_body_bytes : limits_.max_body_bytes;
      if (auto length = parser.content_length(); length && *length > body_limit) {
        co_await write_response(Response::error(413, "request body too large"), version, false);
        break;
      }
      if (!parser.is_done()) {
        parser.body_limit(body_limit);
        // Same deadline as the header: one request_timeout per request.
        auto body = co_await (http::async_read(tls(), buffer, parser, kUse) || timer_.async_wait(kUse));
        if (body.index() == 1) break;
        if (const ErrorCode ec = std::get<0>(std::get<0>(body)); ec) {
          if (ec == http::error::body_limit)
            co_await write_response(Response::error(413, "request body too large"), version, false);
          else if (!is_disconnect(ec))
            co_await write_response(Response::error(400, "malformed request body"), version, false);
          break;
        }
      }
      request.body = std::move(parser.get().body());

      if (route.websocket != nullptr) {
        // The request keeps the peer for the session; one copy is enough.
        peer_.reset();
        co_return std::make_unique<Upgrade>(Upgrade{parser.release(), std::move(request), route.websocket});
      }

      Response response = dispatch(route, request);
      const bool keep_alive = message.keep_alive() && !stopping_ && !server_.stopping.load();
      if (request.method == Method::kHead) {
        response.headers.emplace_back("content-length", std::to_string(response.body.size()));
        response.body.clear();
      }
      const bool written = co_await write_response(std::move(response), version, keep_alive);
      if (!written) break;
      if (!keep_alive) break;
    }
    co_await tls_shutdown();
    co_return nullptr;
  }

  Response dispatch(const Router::Route& route, const Request& request) {
    try {
      ErrorOr<Response> result = route.handler(request);
      if (result) return std::move(result).release_value();
      if (result.error().category() != ErrorCategory::kInvalidArgument &&
          result.error().category() != ErrorCategory::kDecode &&
          result.error().category() != ErrorCategory::kNotFound)
        server_.log(LogLevel::kError, "handler for " + request.path + " failed: " + result.error().to_string());
      return error_response(result.error());
    } catch (const std::exception& e) {
      // A bug in the handler; the connection and the server carry on.
      server_.log(LogLevel::kError, "handler for " + request.path + " threw: " + e.what());
    } catch (...) {
      server_.log(LogLevel::kError, "handler for " + request.path + " threw");
    }
    return Response::error(500, "internal error");
  }

  // Writes one response within write_timeout. False if it could not be sent.
  asio::awaitable<bool> write_response(Response response, unsigned version, bool keep_alive) {
    http::response<http::string_body> out;
    out.version(version);
    out.result(static_cast<unsigned>(response.status));
    out.set(http::field::content_type, response.content_type);
    bool explicit_length = false;
    for (auto& [name, value] : response.headers) {
      if (name == "content-length") explicit_length = true;
      out.insert(name, value);
    }
    out.body() = std::move(response.body);
    out.keep_alive(keep_alive);
    if (!explicit_length) out.prepare_payload();
    timer_.expires_after(limits_.write_timeout);
    auto result = co_await (http::async_write(tls(), out, kUse) || timer_.async_wait(kUse));
    co_return result.index() == 0 && !std::get<0>(std::get<0>(result));
  }

  // Sends close_notify and waits briefly for the peer's, so a client reading
  // to EOF sees a clean end rather than a truncation.
  asio::awaitable<void> tls_shutdown() {
    timer_.expires_after(limits_.ws_close_timeout);
    co_await (tls().async_shutdown(kUse) || timer_.async_wait(kUse));
  }

  // Phase 3: WebSocket. Limits: ws_max_message_bytes (checked below, closes
  // with 1009), ws_queue_depth (send()), ws_idle_timeout with pings at half of
  // it, write_timeout per message, ws_close_timeout for the close handshake.
  asio::awaitable<void> serve_websocket(std::unique_ptr<Upgrade> upgrade) {
    phase_ = Phase::kWebSocket;
    ws_request_ = std::move(upgrade->request);
    const WebSocketHandlers& handlers = *upgrade->handlers;
    // The message limit is ours, not Beast's: Beast "fails" the connection
    // on an oversized message (close frame, then TLS teardown without waiting
    // for the peer), and the outcome then depends on the peer's timing. Ours
    // is a normal close handshake with 1009, and never buffers more than the
    // limit plus one read chunk.
    ws_.read_message_max(0);
    ws_.auto_fragment(false);
    ws_.binary(true);
    websocket::stream_base::timeout timeouts;
    timeouts.handshake_timeout = limits_.ws_close_timeout;  // the upgrade answer and the close
    timeouts.idle_timeout = limits_.ws_idle_timeout;
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    const auto [accept_ec] = co_await ws_.async_accept(upgrade->message, kUse);
    if (accept_ec) co_return;
    // The upgrade request's header fields would otherwise live as long as
    // this frame, i.e. the whole session (memory per idle connection).
    upgrade.reset();

    {
      std::lock_guard lock(ws_mu_);
      ws_state_ = WsState::kOpen;
    }
    auto self = shared_from_this();
    if (stopping_) close(CloseCode::kGoingAway, "server shutting down");
    asio::co_spawn(
        executor_, run_writer(self), asio::detached);
    if (handlers.on_open) handlers.on_open(self);

    constexpr std::size_t kReadChunk = 64 * 1024;
    CloseInfo info;
    beast::flat_buffer buffer;
    for (;;) {
      auto [ec, n] = co_await ws_.async_read_some(buffer, kReadChunk, kUse);
      if (ec) {
        if (ec == websocket::error::closed) {
          info.code = ws_.reason().code;
          info.reason = std::string(ws_.reason().reason.c_str());
        } else {
          info.reason = ec.message();
        }
        break;
      }
      bool open;
      {
        std::lock_guard lock(ws_mu_);
        open = ws_state_ == WsState::kOpen;
      }
      if (!open) {
        buffer.clear();  // closing: discard input until the peer's close frame
        continue;
      }
      if (buffer.size() > limits_.ws_max_message_bytes) {
        buffer.clear();
        close(CloseCode::kTooBig, "message too big");
        continue;
      }
      if (!ws_.is_message_done()) continue;
      if (!ws_.got_binary()) {
        buffer.clear();
        close(CloseCode::kUnsupportedData, "binary frames only");
        continue;
      }
      auto data = buffer.cdata();
      const auto* bytes = static_cast<const std::uint8_t*>(data.data());
      Bytes message(bytes, bytes + data.size());
      // Empty between messages, so freeing it costs one allocation per
      // message and saves its capacity on every quiet connection (memory
      // per idle connection, docs/net.md).
      buffer.clear();
      buffer.shrink_to_fit();
      handlers.on_message(*this, std::move(message));
    }
    {
      std::lock_guard lock(ws_mu_);
      // Report the reason we gave, when we were the side that closed.
      if (ws_state_ == WsState::kClosing) info = close_request_;
      ws_state_ = WsState::kClosed;
      queue_.clear();
    }
    wake_.cancel();
    hard_close_.cancel();
    close_socket();
    if (handlers.on_close) handlers.on_close(*this, info);
  }

  static asio::awaitable<void> run_writer(std::shared_ptr<Connection> self) {
    co_await self->ws_writer();
  }

  // The only writer of a WebSocket: messages in queue order, then the close
  // frame. Sleeps on wake_ (a timer that never expires, cancelled to wake it).
  // Messages already queued together are written as one batch: the TLS
  // stream holds all but the last and sends the batch in one record and one
  // send(2) (tls_stream.h), which is what a busy connection saves syscalls on.
  asio::awaitable<void> ws_writer() {
    std::vector<Bytes> batch;
    for (;;) {
      batch.clear();
      std::optional<CloseInfo> close_now;
      {
        std::lock_guard lock(ws_mu_);
        wake_pending_ = false;
        if (ws_state_ == WsState::kClosed) co_return;
        if (ws_state_ == WsState::kClosing) {
          close_now = close_request_;
        } else {
          std::size_t bytes = 0;
          while (!queue_.empty() && batch.size() < kMaxBatchMessages && bytes < kBatchBytes) {
            batch.push_back(queue_.pop_front());
            bytes += batch.back().size();
          }
        }
      }
      if (close_now) {
        // RFC 6455 §5.5: a control frame payload is at most 125 bytes.
        websocket::close_reason reason(static_cast<websocket::close_code>(close_now->code),
                                       close_now->reason.substr(0, 120));
        co_await ws_.async_close(reason, kUse);  // bounded by Beast's close timeout
        co_return;
      }
      if (!batch.empty()) {
        // One deadline for the batch (the held writes complete at once), kept
        // by a plain timer handler that closes the socket, which fails the
        // write in progress. Racing each write against the timer (`||`) cost
        // two coroutines and a cancellation group per message written.
        const std::uint64_t batch_id = ++write_batches_;
        writing_ = true;
        write_timer_.expires_after(limits_.write_timeout);
        write_timer_.async_wait([self = shared_from_this(), batch_id](ErrorCode ec) {
          // A handler already queued when the batch ended must not fire.
          if (!ec && self->writing_ && self->write_batches_ == batch_id) self->close_socket();
        });
        bool failed = false;
        for (std::size_t i = 0; i < batch.size() && !failed; ++i) {
          if (i + 1 < batch.size())
            tls().hold_writes();
          else
            tls().release_writes();
          auto [ec, written] = co_await ws_.async_write(asio::buffer(batch[i]), kUse);
          (void)written;
          failed = static_cast<bool>(ec);
        }
        writing_ = false;
        write_timer_.cancel();
        tls().release_writes();
        if (failed) {
          close_socket();
          co_return;
        }
        if (batch.capacity() > kMaxBatchMessages) std::vector<Bytes>().swap(batch);
        continue;
      }
      // Nothing to do. A send() from another thread posts wake_.cancel() to
      // this strand; it cannot run before this wait has started.
      std::vector<Bytes>().swap(batch);  // an idle connection holds no batch storage
      wake_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_.async_wait(kUse);
    }
  }

  // A batch stays within about one TLS record (16 KiB of plaintext); a
  // message that does not fit is written on its own.
  static constexpr std::size_t kMaxBatchMessages = 64;
  static constexpr std::size_t kBatchBytes = 15 * 1024;

  Server::Impl& server_;
  const Limits& limits_;
  const std::uint64_t id_;
  asio::any_io_executor executor_;  // the connection's strand
  ServerWsStream ws_;
  asio::steady_timer timer_;        // the deadline of the current phase step
  asio::steady_timer wake_;         // wakes ws_writer
  asio::steady_timer hard_close_;
  asio::steady_timer write_timer_;  // ws_writer's per-batch deadline
  std::uint64_t write_batches_ = 0;  // strand only: which batch write_timer_ guards
  bool writing_ = false;             // strand only: a batch is being written
  std::optional<PeerCertificate> peer_;
  Phase phase_ = Phase::kHandshake;  // strand only
  bool stopping_ = false;            // strand only
  Request ws_request_;               // set before the session is shared, then const

  std::mutex ws_mu_;
  WsState ws_state_ = WsState::kNone;  // ws_mu_
  SmallFifo<Bytes> queue_;             // ws_mu_
  bool wake_pending_ = false;          // ws_mu_
  CloseInfo close_request_;            // ws_mu_
};

}  // namespace

void Server::Impl::unregister(std::uint64_t id) {
  std::lock_guard lock(mu);
  connections.erase(id);
  if (connections.empty()) all_closed.notify_all();
}

void Server::Impl::set_peer(std::uint64_t id, const Sha256Fingerprint& fingerprint) {
  std::lock_guard lock(mu);
  if (auto it = connections.find(id); it != connections.end()) it->second.peer = fingerprint;
}

std::vector<std::shared_ptr<Connection>> Server::Impl::live_connections() {
  std::vector<std::shared_ptr<Connection>> out;
  std::lock_guard lock(mu);
  for (auto& [id, entry] : connections)
    if (auto c = entry.connection.lock()) out.push_back(std::move(c));
  return out;
}

// Phase 0: accept. Limit: max_connections (a connection over it is closed
// at once, before any TLS work is spent on it).
asio::awaitable<void> Server::Impl::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(io), kUse);
    if (ec) {
      if (!acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
      // EMFILE and friends: back off instead of spinning on the error.
      log(LogLevel::kWarning, "accept failed: " + ec.message());
      asio::steady_timer pause(accept_strand, std::chrono::milliseconds(100));
      co_await pause.async_wait(kUse);
      continue;
    }
    std::shared_ptr<Connection> connection;
    bool over_limit = false;
    {
      std::lock_guard lock(mu);
      if (draining) co_return;
      if (connections.size() >= config.limits.max_connections) {
        over_limit = true;
      } else {
        std::uint64_t id = next_id++;
        connection = std::make_shared<Connection>(*this, std::move(socket), id);
        connections.emplace(id, Entry{connection, std::nullopt});
      }
    }
    if (over_limit) {
      log(LogLevel::kWarning, "connection limit reached; closing a new connection");
      ErrorCode ignored;
      socket.close(ignored);
      continue;
    }
    auto executor = connection->executor();
    asio::co_spawn(
        executor, Connection::run(std::move(connection)),
        [this](std::exception_ptr e) {
          if (!e) return;
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            log(LogLevel::kError, std::string("connection coroutine threw (a bug): ") + ex.what());
          } catch (...) {
            log(LogLevel::kError, "connection coroutine threw (a bug)");
          }
        });
  }
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { shutdown(Millis(0)); }

ErrorOr<std::unique_ptr<Server>> Server::create(ServerConfig config, Router router) {
  // ServerTlsStream lets OpenSSL write(2) to the socket itself, without
  // Asio's MSG_NOSIGNAL: a write to a connection the peer has reset would
  // raise SIGPIPE, whose default action ends the whole process. Ignored
  // (only if nobody installed a handler), the write fails with EPIPE and
  // only that connection ends.
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
  if (config.tls.client_cert_mode == ClientCertMode::kNone && config.tls.accept_peer)
    return Error::invalid_argument("accept_peer needs client certificates");
  auto ctx = TRY(make_server_context(config.tls));
  ErrorCode ec;
  auto address = asio::ip::make_address(config.bind_address, ec);
  if (ec) return Error::invalid_argument("bind_address is not an IP address");
  const std::uint16_t port = config.port;
  auto impl = std::make_unique<Impl>(std::move(config), std::move(router), std::move(ctx));
  tcp::endpoint endpoint(address, port);
  tcp::acceptor& acceptor = impl->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (ec) return Error::system("socket", ec.value());
  acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (ec) return Error::system("setsockopt", ec.value());
  acceptor.bind(endpoint, ec);
  if (ec) return Error::system("bind", ec.value());
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Error::system("listen", ec.value());
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

std::uint16_t Server::port() const {
  ErrorCode ec;
  auto endpoint = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

void Server::start() {
  std::lock_guard lock(impl_->lifecycle_mu);
  VERIFY(impl_->state == Impl::State::kCreated);
  impl_->state = Impl::State::kRunning;
  impl_->work.emplace(impl_->io.get_executor());
  Impl* impl = impl_.get();
  asio::co_spawn(impl->accept_strand, impl->accept_loop(), [impl](std::exception_ptr e) {
    if (e) impl->log(LogLevel::kError, "accept loop threw (a bug)");
  });
  for (int i = 0; i < std::max(1, impl->config.threads); ++i)
    impl->threads.emplace_back([impl] { impl->io.run(); });
}

bool Server::shutdown(Millis deadline) {
  std::lock_guard lifecycle(impl_->lifecycle_mu);
  Impl& impl = *impl_;
  if (impl.state != Impl::State::kRunning) {
    impl.state = Impl::State::kStopped;
    return true;
  }
  const auto until = std::chrono::steady_clock::now() + deadline;

  // 1. Stop accepting. Under mu, so the accept loop either registered a
  //    connection before (we drain it below) or sees `draining` and drops it.
  {
    std::lock_guard lock(impl.mu);
    impl.draining = true;
  }
  impl.stopping = true;
  asio::post(impl.accept_strand, [&impl] {
    ErrorCode ignored;
    impl.acceptor.close(ignored);
  });

  // 2. Drain: idle HTTP connections close, busy ones after their response,
  //    WebSockets get kGoingAway.
  for (auto& connection : impl.live_connections()) connection->drain();

  // 3. Wait for every connection to end; past the deadline, cut them.
  bool clean;
  {
    std::unique_lock lock(impl.mu);
    clean = impl.all_closed.wait_until(lock, until, [&] { return impl.connections.empty(); });
  }
  if (!clean) {
    impl.log(LogLevel::kWarning, "shutdown deadline passed; closing the remaining connections");
    for (auto& connection : impl.live_connections()) connection->force_close();
    std::unique_lock lock(impl.mu);
    impl.all_closed.wait_for(lock, std::chrono::seconds(2), [&] { return impl.connections.empty(); });
  }

  // 4. Stop the I/O threads. A handler still blocking an I/O thread delays this.
  impl.work.reset();
  impl.io.stop();
  for (auto& thread : impl.threads) thread.join();
  impl.threads.clear();
  impl.state = Impl::State::kStopped;
  return clean;
}

std::size_t Server::kill_peer(const Sha256Fingerprint& fingerprint) {
  std::vector<std::shared_ptr<Connection>> targets;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [id, entry] : impl_->connections)
      if (entry.peer == fingerprint)
        if (auto c = entry.connection.lock()) targets.push_back(std::move(c));
  }
  // Outside mu: the last reference may go here, and ~Connection takes mu.
  for (auto& connection : targets) connection->kill();
  return targets.size();
}

std::size_t Server::connection_count() const {
  std::lock_guard lock(impl_->mu);
  return impl_->connections.size();
}

}  // namespace pmos::net

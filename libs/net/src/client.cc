#include "pmos/net/client.h"

#include <cerrno>
#include <functional>
#include <string>

#include "asio_common.h"
#include "tls_context.h"

namespace pmos::net {

using namespace detail;
using namespace asio::experimental::awaitable_operators;

namespace {

http::verb to_verb(Method method) {
  switch (method) {
    case Method::kGet: return http::verb::get;
    case Method::kHead: return http::verb::head;
    case Method::kPost: return http::verb::post;
    case Method::kPut: return http::verb::put;
    case Method::kPatch: return http::verb::patch;
    case Method::kDelete: return http::verb::delete_;
    case Method::kOptions: return http::verb::options;
  }
  return http::verb::unknown;
}

// What the two clients share: one TLS connection driven by a private
// io_context on the caller's thread.
struct Core {
  asio::io_context io{1};
  std::unique_ptr<asio::ssl::context> ssl;
  std::optional<WsStream> ws;  // next_layer() is the TLS stream
  beast::flat_buffer buffer;
  std::string host;
  std::string detail;
  bool broken = false;

  TlsStream& tls() { return ws->next_layer(); }

  // Runs `op` until it completes or `timeout` passes. A timed-out operation
  // was cancelled mid-way, which leaves the stream undefined: the connection
  // is closed and every later call fails. Runs only until `op` is done: a
  // WebSocket read may stay pending across calls.
  ErrorCode run(const std::function<asio::awaitable<ErrorCode>()>& op, Millis timeout) {
    if (broken) return asio::error::not_connected;
    ErrorCode result = asio::error::timed_out;
    bool done = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
          auto outcome = co_await (op() || timer.async_wait(kUse));
          if (outcome.index() == 0) result = std::get<0>(outcome);
          done = true;
        },
        asio::detached);
    io.restart();
    while (!done && io.run_one() > 0) {
    }
    if (result) {
      detail = result.message();
      broken = true;
      ErrorCode ignored;
      beast::get_lowest_layer(*ws).close(ignored);
    }
    return result;
  }

  static Error to_error(const char* what, const ErrorCode& ec) {
    if (ec == asio::error::timed_out) return Error::system(what, ETIMEDOUT);
    if (ec == asio::error::connection_refused) return Error::system(what, ECONNREFUSED);
    return Error::system(what, ECONNRESET);
  }

  ErrorOr<void> connect(const TlsClientConfig& config, std::string_view host_name, std::uint16_t port,
                        Millis timeout) {
    ssl = TRY(make_client_context(config));
    ws.emplace(io, *ssl);
    host = std::string(host_name);
    TRY(set_expected_server_name(tls().native_handle(),
                                 config.server_name.empty() ? host : config.server_name));
    ErrorCode ec = run(
        [&]() -> asio::awaitable<ErrorCode> {
          tcp::resolver resolver(io);
          auto [rec, endpoints] = co_await resolver.async_resolve(host, std::to_string(port), kUse);
          if (rec) co_return rec;
          auto [cec, endpoint] = co_await asio::async_connect(beast::get_lowest_layer(*ws), endpoints, kUse);
          if (cec) co_return cec;
          ErrorCode ignored;
          beast::get_lowest_layer(*ws).set_option(tcp::no_delay(true), ignored);
          auto [hec] = co_await tls().async_handshake(asio::ssl::stream_base::client, kUse);
          co_return hec;
        },
        timeout);
    if (ec) return to_error("tls connect", ec);
    return {};
  }
};

}  // namespace

struct HttpsClient::Impl {
  Core core;
};

HttpsClient::HttpsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpsClient::~HttpsClient() = default;

ErrorOr<std::unique_ptr<HttpsClient>> HttpsClient::connect(const TlsClientConfig& tls,
                                                           std::string_view host, std::uint16_t port,
                                                           Millis timeout) {
  auto impl = std::make_unique<Impl>();
  TRY(impl->core.connect(tls, host, port, timeout));
  return std::unique_ptr<HttpsClient>(new HttpsClient(std::move(impl)));
}

ErrorOr<Response> HttpsClient::request(Method method, std::string_view target, std::string body,
                                       Headers headers, Millis timeout) {
  Core& core = impl_->core;
  http::request<http::string_body> out(to_verb(method), std::string(target), 11);
  out.set(http::field::host, core.host);
  for (auto& [name, value] : headers) out.insert(name, value);
  if (!body.empty() && out.find(http::field::content_type) == out.end())
    out.set(http::field::content_type, "application/json");
  out.body() = std::move(body);
  out.keep_alive(true);
  out.prepare_payload();

  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (method == Method::kHead) parser.skip(true);
  ErrorCode ec = core.run(
      [&]() -> asio::awaitable<ErrorCode> {
        auto [wec, wn] = co_await http::async_write(core.tls(), out, kUse);
        if (wec) co_return wec;
        auto [rec, rn] = co_await http::async_read(core.tls(), core.buffer, parser, kUse);
        co_return rec;
      },
      timeout);
  if (ec) return Core::to_error("https request", ec);

  auto& in = parser.get();
  Response response;
  response.status = static_cast<int>(in.result_int());
  response.content_type = std::string(in[http::field::content_type]);
  for (const auto& field : in) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name != "content-type") response.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  response.body = std::move(in.body());
  // The server said it closes: later requests would fail anyway.
  if (!in.keep_alive()) core.broken = true;
  return response;
}

std::string HttpsClient::last_error_detail() const { return impl_->core.detail; }

struct WebSocketClient::Impl {
  Core core;
  std::optional<CloseInfo> close_info;
  // One read stays pending across receive() calls: a receive that times out
  // leaves it running (cancelling a WebSocket read mid-frame would break the
  // stream), and the next receive() goes on waiting for the same message.
  bool reading = false;
  std::optional<ErrorCode> read_result;

  void start_read() {
    reading = true;
    core.buffer.clear();
    asio::co_spawn(
        core.io,
        [this]() -> asio::awaitable<void> {
          auto [rec, n] = co_await core.ws->async_read(core.buffer, kUse);
          read_result = rec;
          reading = false;
        },
        asio::detached);
  }

  ~Impl() {
    if (!reading) return;
    // Let the pending read finish (aborted) before the stream goes away.
    ErrorCode ignored;
    beast::get_lowest_layer(*core.ws).close(ignored);
    core.io.restart();
    while (reading && core.io.run_one_for(std::chrono::seconds(1)) > 0) {
    }
  }
};

WebSocketClient::WebSocketClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WebSocketClient::~WebSocketClient() = default;

ErrorOr<std::unique_ptr<WebSocketClient>> WebSocketClient::connect(const TlsClientConfig& tls,
                                                                   std::string_view host,
                                                                   std::uint16_t port,
                                                                   std::string_view path,
                                                                   Millis timeout, Headers headers) {
  auto impl = std::make_unique<Impl>();
  Core& core = impl->core;
  const auto start = std::chrono::steady_clock::now();
  TRY(core.connect(tls, host, port, timeout));
  auto remaining = std::max(Millis(1), timeout - std::chrono::duration_cast<Millis>(
                                                     std::chrono::steady_clock::now() - start));
  core.ws->binary(true);
  core.ws->read_message_max(64 * 1024 * 1024);
  core.ws->set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    for (const auto& [name, value] : headers) req.insert(name, value);
  }));
  websocket::response_type answer;
  std::string target(path);
  ErrorCode ec = core.run(
      [&]() -> asio::awaitable<ErrorCode> {
        auto [hec] = co_await core.ws->async_handshake(answer, core.host, target, kUse);
        co_return hec;
      },
      remaining);
  if (ec) {
    if (answer.result_int() != 0)
      core.detail += " (HTTP " + std::to_string(answer.result_int()) + " " + answer.body() + ")";
    return Core::to_error("websocket connect", ec);
  }
  return std::unique_ptr<WebSocketClient>(new WebSocketClient(std::move(impl)));
}

ErrorOr<void> WebSocketClient::send(BytesView message, Millis timeout) {
  Core& core = impl_->core;
  ErrorCode ec = core.run(
      [&]() -> asio::awaitable<ErrorCode> {
        auto [wec, n] = co_await core.ws->async_write(asio::buffer(message.data(), message.size()), kUse);
        co_return wec;
      },
      timeout);
  if (ec) return Core::to_error("websocket send", ec);
  return {};
}

ErrorOr<Bytes> WebSocketClient::receive(Millis timeout) {
  Impl& impl = *impl_;
  Core& core = impl.core;
  if (core.broken && !impl.read_result) return Core::to_error("websocket receive", asio::error::not_connected);
  if (!impl.reading && !impl.read_result) impl.start_read();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  core.io.restart();
  while (!impl.read_result) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= Millis(0)) return Error::system("websocket receive", ETIMEDOUT);  // the read goes on
    if (core.io.run_one_for(left) == 0 && core.io.stopped()) core.io.restart();
  }
  ErrorCode ec = *impl.read_result;
  impl.read_result.reset();
  if (ec) {
    core.detail = ec.message();
    if (ec == websocket::error::closed)
      impl.close_info = CloseInfo{core.ws->reason().code, std::string(core.ws->reason().reason.c_str())};
    if (!core.broken) {
      core.broken = true;
      ErrorCode ignored;
      beast::get_lowest_layer(*core.ws).close(ignored);
    }
    return Core::to_error("websocket receive", ec);
  }
  auto data = core.buffer.cdata();
  const auto* bytes = static_cast<const std::uint8_t*>(data.data());
  return Bytes(bytes, bytes + data.size());
}

ErrorOr<void> WebSocketClient::close(Millis timeout) {
  Core& core = impl_->core;
  ErrorCode ec = core.run(
      [&]() -> asio::awaitable<ErrorCode> {
        auto [cec] = co_await core.ws->async_close(websocket::close_code::normal, kUse);
        co_return cec;
      },
      timeout);
  if (ec) return Core::to_error("websocket close", ec);
  core.broken = true;
  return {};
}

std::optional<CloseInfo> WebSocketClient::close_info() const { return impl_->close_info; }
std::string WebSocketClient::last_error_detail() const { return impl_->core.detail; }

}  // namespace pmos::net

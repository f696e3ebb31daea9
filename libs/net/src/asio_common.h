#pragma once

// Private to libs/net: the Asio/Beast vocabulary of the implementation. Never
// include this from a public header (see docs/net.md, "Build cost").

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace pmos::net::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;

// Every asynchronous operation completes with its error code as a value
// (STYLE §2): EOF, timeouts and cancellation are not exceptions.
inline constexpr auto kUse = asio::as_tuple(asio::use_awaitable);

using TlsStream = asio::ssl::stream<tcp::socket>;
// A connection is always held as a WebSocket stream over TLS; plain HTTP
// uses next_layer(), so an upgrade needs no move of the TLS state.
using WsStream = websocket::stream<TlsStream>;

}  // namespace pmos::net::detail

// WebSocket sessions: echo, limits, slow consumers, idle peers, close codes.
#include <atomic>
#include <cerrno>
#include <functional>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "pmos/net/client.h"
#include "pmos/net/server.h"
#include "test_pki.h"

namespace pmos::net {
namespace {

using testing::echo_handlers;
using testing::eventually;
using testing::pki;
using testing::start_server;

constexpr Millis kTimeout{10'000};

std::unique_ptr<WebSocketClient> connect(std::uint16_t port, std::string_view path = "/ws") {
  auto client = WebSocketClient::connect(pki().client_tls(&pki().device1), "127.0.0.1", port, path, kTimeout);
  EXPECT_TRUE(client.has_value()) << client.error().to_string();
  return client ? std::move(client).release_value() : nullptr;
}

Router echo_router() {
  Router router;
  EXPECT_TRUE(router.add_websocket("/ws", echo_handlers()));
  return router;
}

// A server whose WebSocket sends what `on_open` sends and ignores what it gets.
std::unique_ptr<Server> start_sending_server(std::function<void(const std::shared_ptr<WebSocketSession>&)> on_open) {
  WebSocketHandlers handlers;
  handlers.on_open = std::move(on_open);
  handlers.on_message = [](WebSocketSession&, Bytes) {};
  Router router;
  EXPECT_TRUE(router.add_websocket("/ws", handlers));
  return start_server(std::move(router));
}

TEST(WebSocket, EchoRoundTrip) {
  auto server = start_server(echo_router());
  auto client = connect(server->port());
  ASSERT_TRUE(client);
  std::vector<Bytes> messages = {to_bytes("a"), Bytes{}, Bytes(100'000, 0xab), Bytes{0, 1, 2, 255}};
  for (const Bytes& m : messages) ASSERT_TRUE(client->send(m));
  for (const Bytes& m : messages) {
    auto echo = client->receive();
    ASSERT_TRUE(echo.has_value()) << client->last_error_detail();
    EXPECT_EQ(*echo, m);
  }
}

// A burst of small frames: the server's TLS stream reads ahead, so several
// records arrive per recv(2); each must come out as its own message, in
// order. (Fewer than ws_queue_depth, so the echoes always fit the queue.)
TEST(WebSocket, BurstOfSmallMessagesArrivesInOrder) {
  auto server = start_server(echo_router());
  auto client = connect(server->port());
  ASSERT_TRUE(client);
  constexpr int kCount = 200;
  for (int i = 0; i < kCount; ++i) ASSERT_TRUE(client->send(Bytes{static_cast<std::uint8_t>(i), 0x5a}));
  for (int i = 0; i < kCount; ++i) {
    auto echo = client->receive();
    ASSERT_TRUE(echo.has_value()) << i << ": " << client->last_error_detail();
    EXPECT_EQ(*echo, (Bytes{static_cast<std::uint8_t>(i), 0x5a}));
  }
}

// Messages queued together leave as one batch: the TLS stream holds all but
// the last write and sends them in one record (tls_stream.h). Sizes around
// and over a record's 16 KiB (a held write that does not fit, a released
// one behind held bytes), empty ones, and a batch larger than the writer
// takes at once: every message must arrive whole, once, in order.
TEST(WebSocket, QueuedMessagesAreBatchedWholeAndInOrder) {
  constexpr std::size_t kSizes[] = {1, 300, 0, 5'000, 15'000, 16'500, 40'000, 2, 9'000, 16'384};
  constexpr int kCount = 150;
  auto message = [&](int i) {
    Bytes m(kSizes[static_cast<std::size_t>(i) % std::size(kSizes)]);
    for (std::size_t j = 0; j < m.size(); ++j) m[j] = static_cast<std::uint8_t>(j * 7 + static_cast<std::size_t>(i));
    return m;
  };
  auto server = start_sending_server([&](const std::shared_ptr<WebSocketSession>& session) {
    // On the I/O thread: all of these are queued before the writer runs.
    for (int i = 0; i < kCount; ++i) EXPECT_TRUE(session->send(message(i)));
  });
  auto client = connect(server->port());
  ASSERT_TRUE(client);
  for (int i = 0; i < kCount; ++i) {
    auto received = client->receive();
    ASSERT_TRUE(received.has_value()) << i << ": " << client->last_error_detail();
    ASSERT_EQ(*received, message(i)) << i;
  }
  // The connection is still usable after the batches.
  ASSERT_TRUE(client->send(to_bytes("x")));
}

// The peer closes while the server is writing batches: Beast answers the
// close frame between the batch's held writes, so its answer is held too and
// must still leave before the TLS close (ServerTlsStream::shutdown_step), or
// the client sees EOF instead of a close frame.
TEST(WebSocket, ClientCloseDuringBatchedWritesGetsTheCloseAnswer) {
  for (int round = 0; round < 20; ++round) {
    auto server = start_sending_server([](const std::shared_ptr<WebSocketSession>& session) {
      for (int i = 0; i < 200; ++i) session->send(Bytes(300, static_cast<std::uint8_t>(i)));
    });
    auto client = connect(server->port());
    ASSERT_TRUE(client);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(client->receive().has_value()) << client->last_error_detail();
    ASSERT_TRUE(client->close().has_value()) << round << ": " << client->last_error_detail();
  }
}

// Large messages both ways while the client does not read: the server's
// writes fill the socket and wait for it (SSL_ERROR_WANT_WRITE, a partial
// write to finish later) while its reads of the next messages go on, on the
// same TLS session.
TEST(WebSocket, LargeMessagesBothWaysWhileThePeerIsNotReading) {
  auto server = start_server(echo_router());
  auto client = connect(server->port());
  ASSERT_TRUE(client);
  std::vector<Bytes> messages;
  for (int i = 0; i < 8; ++i) {
    Bytes m(600'000);
    for (std::size_t j = 0; j < m.size(); ++j) m[j] = static_cast<std::uint8_t>(j * 31 + i);
    messages.push_back(std::move(m));
  }
  for (const Bytes& m : messages) ASSERT_TRUE(client->send(m));
  for (const Bytes& m : messages) {
    auto echo = client->receive();
    ASSERT_TRUE(echo.has_value()) << client->last_error_detail();
    EXPECT_TRUE(*echo == m);
  }
}

// A peer that stops reading stalls the server's writes; after write_timeout
// the connection is closed, not held (with its queue) forever.
TEST(WebSocket, StalledReaderIsClosedAfterTheWriteTimeout) {
  std::promise<void> closed;
  WebSocketHandlers handlers;
  handlers.on_open = [](const std::shared_ptr<WebSocketSession>& session) {
    // 32 MiB: far more than loopback's socket buffers hold.
    for (int i = 0; i < 64; ++i) session->send(Bytes(512 * 1024, static_cast<std::uint8_t>(i)));
  };
  handlers.on_message = [](WebSocketSession&, Bytes) {};
  handlers.on_close = [&](WebSocketSession&, const CloseInfo&) { closed.set_value(); };
  Router router;
  ASSERT_TRUE(router.add_websocket("/ws", handlers));
  auto server = start_server(std::move(router), [](ServerConfig& c) {
    c.limits.write_timeout = Millis(300);
    c.limits.ws_idle_timeout = Millis(60'000);  // the write deadline, not the idle one, must act
  });
  const auto start = std::chrono::steady_clock::now();
  auto client = connect(server->port());
  ASSERT_TRUE(client);
  ASSERT_EQ(closed.get_future().wait_for(kTimeout), std::future_status::ready);
  EXPECT_GE(std::chrono::steady_clock::now() - start, Millis(250));
  EXPECT_TRUE(eventually([&] { return server->connection_count() == 0; }));
}

// The write deadline is per batch: a connection busy for longer than
// write_timeout in total, with every batch written in time, stays open.
TEST(WebSocket, WriteTimeoutIsPerBatchNotPerConnection) {
  auto server = start_server(echo_router(), [](ServerConfig& c) { c.limits.write_timeout = Millis(150); });
  auto client = connect(server->port());
  ASSERT_TRUE(client);
  for (int i = 0; i < 12; ++i) {
    const Bytes m(1000, static_cast<std::uint8_t>(i));
    ASSERT_TRUE(client->send(m));
    auto echo = client->receive();
    ASSERT_TRUE(echo.has_value()) << "message " << i << ": " << client->last_error_detail();
    EXPECT_TRUE(*echo == m);
    std::this_thread::sleep_for(Millis(50));
  }
  EXPECT_EQ(server->connection_count(), 1u);
}

TEST(WebSocket, HttpRoutesAndUpgradeShareTheListener) {
  Router router = echo_router();
  ASSERT_TRUE(router.add(Method::kGet, "/healthz", [](const Request&) -> ErrorOr<Response> {
    return Response::text("ok");
  }, {.auth = PeerAuth::kAnonymous}));
  auto server = start_server(std::move(router));
  auto https = HttpsClient::connect(pki().client_tls(nullptr), "127.0.0.1", server->port(), kTimeout);
  ASSERT_TRUE(https.has_value());
  auto health = (*https)->request(Method::kGet, "/healthz");
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ(health->body, "ok");
  // A plain GET of the WebSocket path is not a route; an upgrade elsewhere is not either.
  EXPECT_EQ((*https)->request(Method::kGet, "/ws")->status, 404);
  auto client = connect(server->port());
  ASSERT_TRUE(client);
  EXPECT_FALSE(WebSocketClient::connect(pki().client_tls(&pki().device1), "127.0.0.1", server->port(),
                                        "/healthz", kTimeout).has_value());
}

TEST(WebSocket, OversizedMessageClosesConnectionAndServerStaysHealthy) {
  std::promise<CloseInfo> closed;
  Router router;
  WebSocketHandlers handlers = echo_handlers();
  handlers.on_close = [&](WebSocketSession&, const CloseInfo& info) { closed.set_value(info); };
  ASSERT_TRUE(router.add_websocket("/ws", handlers));
  auto server = start_server(std::move(router), [](ServerConfig& c) { c.limits.ws_max_message_bytes = 1024; });

  auto client = connect(server->port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->send(Bytes(1024, 1)));  // at the limit: fine
  ASSERT_TRUE(client->receive().has_value());
  ASSERT_TRUE(client->send(Bytes(4096, 2)));
  EXPECT_FALSE(client->receive(kTimeout).has_value());
  ASSERT_TRUE(client->close_info().has_value()) << client->last_error_detail();
  EXPECT_EQ(client->close_info()->code, static_cast<std::uint16_t>(CloseCode::kTooBig));
  EXPECT_EQ(client->close_info()->reason, "message too big");
  auto future = closed.get_future();
  ASSERT_EQ(future.wait_for(kTimeout), std::future_status::ready);
  CloseInfo info = future.get();
  EXPECT_EQ(info.code, static_cast<std::uint16_t>(CloseCode::kTooBig)) << info.reason;
  EXPECT_TRUE(eventually([&] { return server->connection_count() == 0; }));

  auto fresh = connect(server->port());
  ASSERT_TRUE(fresh);
  ASSERT_TRUE(fresh->send(to_bytes("after")));
  auto echo = fresh->receive();
  ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(*echo, to_bytes("after"));
}

TEST(WebSocket, SlowConsumerIsClosedWhenTheQueueIsFull) {
  std::atomic<int> accepted{0};
  std::atomic<int> refused{0};
  Router router;
  WebSocketHandlers handlers;
  // One message in, fifty out, all queued before the writer can run (the
  // handler holds the connection's strand): the queue of 4 must overflow.
  handlers.on_message = [&](WebSocketSession& session, Bytes) {
    for (int i = 0; i < 50; ++i) (session.send(Bytes(1000, static_cast<std::uint8_t>(i))) ? accepted : refused)++;
  };
  ASSERT_TRUE(router.add_websocket("/ws", handlers));
  auto server = start_server(std::move(router), [](ServerConfig& c) { c.limits.ws_queue_depth = 4; });

  auto client = connect(server->port());
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->send(to_bytes("flood me")));
  // Queued messages are dropped once the close starts: the next frame is the close.
  EXPECT_FALSE(client->receive(kTimeout).has_value());
  ASSERT_TRUE(client->close_info().has_value()) << client->last_error_detail();
  EXPECT_EQ(client->close_info()->code, static_cast<std::uint16_t>(CloseCode::kPolicyViolation));
  EXPECT_EQ(client->close_info()->reason, "outgoing queue full");
  EXPECT_EQ(accepted.load(), 4);
  EXPECT_EQ(refused.load(), 46);
  EXPECT_TRUE(eventually([&] { return server->connection_count() == 0; }));
}

TEST(WebSocket, SilentPeerIsClosedAfterIdleTimeout) {
  std::promise<void> closed;
  Router router;
  WebSocketHandlers handlers = echo_handlers();
  handlers.on_close = [&](WebSocketSession&, const CloseInfo&) { closed.set_value(); };
  ASSERT_TRUE(router.add_websocket("/ws", handlers));
  auto server = start_server(std::move(router), [](ServerConfig& c) { c.limits.ws_idle_timeout = Millis(400); });
  const auto start = std::chrono::steady_clock::now();
  auto client = connect(server->port());
  ASSERT_TRUE(client);
  // The client does not read, so it never answers the server's ping.
  ASSERT_EQ(closed.get_future().wait_for(kTimeout), std::future_status::ready);
  EXPECT_GE(std::chrono::steady_clock::now() - start, Millis(350));
  EXPECT_FALSE(client->receive(kTimeout).has_value());
  EXPECT_TRUE(eventually([&] { return server->connection_count() == 0; }));
}

TEST(WebSocket, PeerThatAnswersPingsStaysOpenPastIdleTimeout) {
  Router router;
  WebSocketHandlers handlers;
  // Answers after a pause longer than the idle timeout, while the client is
  // inside receive() (and so answering pings).
  handlers.on_message = [](WebSocketSession&, Bytes) {};
  std::promise<void> released;
  handlers.on_open = [&released](const std::shared_ptr<WebSocketSession>& session) {
    std::thread([held = session, &released]() mutable {
      std::this_thread::sleep_for(Millis(1500));
      held->send(to_bytes("late"));
      // Sessions must not outlive their server (websocket.h): without this
      // the last reference could drop after ~Server (ASan: use after free).
      held.reset();
      released.set_value();
    }).detach();
  };
  ASSERT_TRUE(router.add_websocket("/ws", handlers));
  auto server = start_server(std::move(router), [](ServerConfig& c) { c.limits.ws_idle_timeout = Millis(600); });
  auto client = connect(server->port());
  ASSERT_TRUE(client);
  auto late = client->receive(kTimeout);
  ASSERT_TRUE(late.has_value()) << client->last_error_detail();
  EXPECT_EQ(*late, to_bytes("late"));
  EXPECT_EQ(released.get_future().wait_for(kTimeout), std::future_status::ready);
}

TEST(WebSocket, ClientCloseReachesOnCloseWithNormalCode) {
  std::promise<CloseInfo> closed;
  std::promise<std::uint64_t> opened;
  Router router;
  WebSocketHandlers handlers = echo_handlers();
  handlers.on_open = [&](const std::shared_ptr<WebSocketSession>& s) { opened.set_value(s->id()); };
  handlers.on_close = [&](WebSocketSession&, const CloseInfo& info) { closed.set_value(info); };
  ASSERT_TRUE(router.add_websocket("/ws", handlers));
  auto server = start_server(std::move(router));
  auto client = connect(server->port());
  ASSERT_TRUE(client);
  ASSERT_EQ(opened.get_future().wait_for(kTimeout), std::future_status::ready);
  ASSERT_TRUE(client->close());
  auto future = closed.get_future();
  ASSERT_EQ(future.wait_for(kTimeout), std::future_status::ready);
  EXPECT_EQ(future.get().code, static_cast<std::uint16_t>(CloseCode::kNormal));
  EXPECT_FALSE(client->send(to_bytes("after close")).has_value());
}

TEST(WebSocket, SendAfterCloseReturnsFalse) {
  std::promise<std::shared_ptr<WebSocketSession>> opened;
  std::promise<void> closed;
  Router router;
  WebSocketHandlers handlers = echo_handlers();
  handlers.on_open = [&](const std::shared_ptr<WebSocketSession>& s) { opened.set_value(s); };
  handlers.on_close = [&](WebSocketSession&, const CloseInfo&) { closed.set_value(); };
  ASSERT_TRUE(router.add_websocket("/ws", handlers));
  auto server = start_server(std::move(router));
  auto client = connect(server->port());
  ASSERT_TRUE(client);
  auto session = opened.get_future().get();
  ASSERT_TRUE(session->send(to_bytes("one")));
  EXPECT_EQ(client->receive().value(), to_bytes("one"));
  session->close(CloseCode::kNormal, "bye");
  EXPECT_FALSE(session->send(to_bytes("two")));
  EXPECT_FALSE(client->receive(kTimeout).has_value());
  ASSERT_TRUE(client->close_info().has_value());
  EXPECT_EQ(client->close_info()->reason, "bye");
  ASSERT_EQ(closed.get_future().wait_for(kTimeout), std::future_status::ready);
  EXPECT_FALSE(session->send(to_bytes("three")));
  EXPECT_EQ(session->peer()->common_name, "device-1");
}

// A receive() that times out keeps the connection: the next one goes on
// waiting, also for a message whose frames were half read when the first
// gave up (here one of 600 kB, read in 1 ms slices).
TEST(WebSocket, ReceiveTimeoutKeepsTheConnectionAndTheHalfReadMessage) {
  auto server = start_server(echo_router());
  auto client = connect(server->port());
  ASSERT_TRUE(client);
  auto quiet = client->receive(Millis(50));
  ASSERT_FALSE(quiet.has_value());
  EXPECT_EQ(quiet.error().errno_code(), ETIMEDOUT);
  ASSERT_TRUE(client->send(to_bytes("still here"))) << client->last_error_detail();
  auto echo = client->receive(kTimeout);
  ASSERT_TRUE(echo.has_value()) << client->last_error_detail();
  EXPECT_EQ(*echo, to_bytes("still here"));

  Bytes big(600'000);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 7 + 1);
  ASSERT_TRUE(client->send(big));
  int timeouts = 0;
  std::optional<Bytes> got;
  for (int i = 0; i < 100'000 && !got; ++i) {
    auto part = client->receive(Millis(1));
    if (part) {
      got = std::move(*part);
    } else {
      ASSERT_EQ(part.error().errno_code(), ETIMEDOUT) << client->last_error_detail();
      ++timeouts;
    }
  }
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(*got == big);
  EXPECT_GT(timeouts, 0);
  ASSERT_TRUE(client->send(to_bytes("after"))) << client->last_error_detail();
  EXPECT_EQ(client->receive(kTimeout).value(), to_bytes("after"));
  EXPECT_TRUE(client->close());
}

}  // namespace
}  // namespace pmos::net

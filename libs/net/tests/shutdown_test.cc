// Graceful shutdown: stop accepting, finish in-flight work, say goodbye.
#include <chrono>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "pmos/net/client.h"
#include "pmos/net/server.h"
#include "raw_tls.h"
#include "test_pki.h"

namespace pmos::net {
namespace {

using testing::pki;
using testing::start_server;

constexpr Millis kTimeout{10'000};

// /slow takes `work` to answer and reports when it has started.
Router slow_router(std::promise<void>& started, Millis work) {
  Router router;
  EXPECT_TRUE(router.add(Method::kGet, "/slow", [&started, work](const Request&) -> ErrorOr<Response> {
    started.set_value();
    std::this_thread::sleep_for(work);  // the in-flight work itself, not synchronisation
    return Response::text("done");
  }, {.auth = PeerAuth::kAnonymous}));
  EXPECT_TRUE(router.add_websocket("/ws", testing::echo_handlers()));
  return router;
}

TEST(Shutdown, InFlightRequestFinishesThenServerStops) {
  std::promise<void> started;
  auto server = start_server(slow_router(started, Millis(400)));
  const std::uint16_t port = server->port();
  auto client = HttpsClient::connect(pki().client_tls(nullptr), "127.0.0.1", port, kTimeout);
  ASSERT_TRUE(client.has_value());
  auto response = std::async(std::launch::async, [&] { return (*client)->request(Method::kGet, "/slow"); });
  ASSERT_EQ(started.get_future().wait_for(kTimeout), std::future_status::ready);

  EXPECT_TRUE(server->shutdown(kTimeout));
  auto r = response.get();
  ASSERT_TRUE(r.has_value()) << (*client)->last_error_detail();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "done");
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_EQ(server->connection_count(), 0u);
  // Not accepting any more.
  EXPECT_FALSE(HttpsClient::connect(pki().client_tls(nullptr), "127.0.0.1", port, Millis(2000)).has_value());
}

TEST(Shutdown, WebSocketsGetGoingAway) {
  std::promise<void> unused;
  auto server = start_server(slow_router(unused, Millis(0)));
  auto a = WebSocketClient::connect(pki().client_tls(&pki().device1), "127.0.0.1", server->port(), "/ws", kTimeout);
  auto b = WebSocketClient::connect(pki().client_tls(&pki().device2), "127.0.0.1", server->port(), "/ws", kTimeout);
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  auto done = std::async(std::launch::async, [&] { return server->shutdown(kTimeout); });
  for (auto* c : {a->get(), b->get()}) {
    EXPECT_FALSE(c->receive(kTimeout).has_value());
    ASSERT_TRUE(c->close_info().has_value()) << c->last_error_detail();
    EXPECT_EQ(c->close_info()->code, static_cast<std::uint16_t>(CloseCode::kGoingAway));
  }
  EXPECT_TRUE(done.get());
}

TEST(Shutdown, IdleConnectionsDoNotHoldItUp) {
  std::promise<void> unused;
  auto server = start_server(slow_router(unused, Millis(0)));
  auto idle = HttpsClient::connect(pki().client_tls(nullptr), "127.0.0.1", server->port(), kTimeout);
  ASSERT_TRUE(idle.has_value());
  testing::RawSocket half_open(server->port());  // not even a handshake
  ASSERT_TRUE(half_open.connected());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(server->shutdown(kTimeout));
  // Both are told to go at once; nothing waits for a timeout.
  EXPECT_LT(std::chrono::steady_clock::now() - start, Millis(5000));
  EXPECT_TRUE(half_open.closed_within(kTimeout));
}

TEST(Shutdown, DeadlineCutsWhatIsStillRunning) {
  std::promise<void> started;
  auto server = start_server(slow_router(started, Millis(1000)));
  auto client = HttpsClient::connect(pki().client_tls(nullptr), "127.0.0.1", server->port(), kTimeout);
  ASSERT_TRUE(client.has_value());
  auto response = std::async(std::launch::async, [&] { return (*client)->request(Method::kGet, "/slow"); });
  ASSERT_EQ(started.get_future().wait_for(kTimeout), std::future_status::ready);
  EXPECT_FALSE(server->shutdown(Millis(50)));
  (void)response.get();  // answered or cut; either way it returns
  // A second shutdown, and the destructor's, are no-ops.
  EXPECT_TRUE(server->shutdown(Millis(0)));
}

}  // namespace
}  // namespace pmos::net

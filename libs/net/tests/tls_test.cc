// mTLS: who gets in, who does not, and what the server does with the rest.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pmos/net/client.h"
#include "pmos/net/server.h"
#include "raw_tls.h"
#include "test_pki.h"

namespace pmos::net {
namespace {

using testing::echo_handlers;
using testing::eventually;
using testing::pki;
using testing::start_server;
using ::testing::HasSubstr;

constexpr Millis kTimeout{10'000};

// Echo over WebSocket at /ws (device route) and two HTTP routes: one for
// devices, one anonymous (enrollment-like).
Router device_router(std::shared_ptr<std::optional<PeerCertificate>> seen = nullptr) {
  Router router;
  WebSocketHandlers ws = echo_handlers();
  ws.on_open = [seen](const std::shared_ptr<WebSocketSession>& session) {
    if (seen) *seen = session->peer();
  };
  EXPECT_TRUE(router.add_websocket("/ws", ws));
  EXPECT_TRUE(router.add(Method::kGet, "/device/whoami", [](const Request& r) -> ErrorOr<Response> {
    return Response::text(r.peer ? r.peer->common_name : "?");
  }));
  EXPECT_TRUE(router.add(Method::kGet, "/enroll/hello", [](const Request& r) -> ErrorOr<Response> {
    return Response::text(r.peer ? "with cert" : "anonymous");
  }, {.auth = PeerAuth::kAnonymous}));
  return router;
}

// One WebSocket round trip; false if anything fails.
bool ws_works(std::uint16_t port, const testing::Credential* cert) {
  auto client = WebSocketClient::connect(pki().client_tls(cert), "127.0.0.1", port, "/ws", kTimeout);
  if (!client) return false;
  if (!(*client)->send(to_bytes("ping"))) return false;
  auto echo = (*client)->receive();
  return echo && *echo == to_bytes("ping");
}

TEST(Tls, MutualHandshakeWithCaSignedClientCertificate) {
  auto seen = std::make_shared<std::optional<PeerCertificate>>();
  auto server = start_server(device_router(seen));
  auto client = WebSocketClient::connect(pki().client_tls(&pki().device1), "127.0.0.1", server->port(),
                                         "/ws", kTimeout);
  ASSERT_TRUE(client.has_value()) << client.error().to_string();
  ASSERT_TRUE((*client)->send(to_bytes("hello")));
  auto echo = (*client)->receive();
  ASSERT_TRUE(echo.has_value()) << (*client)->last_error_detail();
  EXPECT_EQ(*echo, to_bytes("hello"));
  // on_open ran on the server's strand before our echo came back.
  ASSERT_TRUE(seen->has_value());
  EXPECT_EQ((*seen)->common_name, "device-1");
  EXPECT_EQ((*seen)->organizational_units, std::vector<std::string>{"user-alice"});
  EXPECT_EQ((*seen)->sha256, pki().device1.fingerprint());

  auto https = HttpsClient::connect(pki().client_tls(&pki().device2), "127.0.0.1", server->port(), kTimeout);
  ASSERT_TRUE(https.has_value());
  auto whoami = (*https)->request(Method::kGet, "/device/whoami");
  ASSERT_TRUE(whoami.has_value()) << (*https)->last_error_detail();
  EXPECT_EQ(whoami->status, 200);
  EXPECT_EQ(whoami->body, "device-2");
}

TEST(Tls, WithoutClientCertificateOnlyAnonymousRoutesAnswer) {
  auto server = start_server(device_router());
  // WebSocket (device) route: the upgrade is refused with 403.
  auto ws = WebSocketClient::connect(pki().client_tls(nullptr), "127.0.0.1", server->port(), "/ws", kTimeout);
  ASSERT_FALSE(ws.has_value());

  auto https = HttpsClient::connect(pki().client_tls(nullptr), "127.0.0.1", server->port(), kTimeout);
  ASSERT_TRUE(https.has_value());
  auto device = (*https)->request(Method::kGet, "/device/whoami");
  ASSERT_TRUE(device.has_value());
  EXPECT_EQ(device->status, 403);
  EXPECT_THAT(device->body, HasSubstr("client certificate required"));
  auto anonymous = (*https)->request(Method::kGet, "/enroll/hello");
  ASSERT_TRUE(anonymous.has_value()) << (*https)->last_error_detail();
  EXPECT_EQ(anonymous->status, 200);
  EXPECT_EQ(anonymous->body, "anonymous");
}

TEST(Tls, RequiredModeFailsTheHandshakeWithoutCertificate) {
  auto server = start_server(device_router(), [](ServerConfig& c) {
    c.tls = pki().server_tls(ClientCertMode::kRequired);
  });
  // In TLS 1.3 the client finishes its handshake before the server has seen
  // its (missing) certificate, so the refusal may surface on first use.
  auto https = HttpsClient::connect(pki().client_tls(nullptr), "127.0.0.1", server->port(), kTimeout);
  if (https) {
    auto response = (*https)->request(Method::kGet, "/enroll/hello");
    EXPECT_FALSE(response.has_value());
    EXPECT_THAT((*https)->last_error_detail(), HasSubstr("certificate required"));
  }
  EXPECT_TRUE(ws_works(server->port(), &pki().device1));
}

TEST(Tls, CertificateFromAnotherCaIsRefused) {
  auto server = start_server(device_router());
  EXPECT_FALSE(ws_works(server->port(), &pki().foreign_device));
  // Even on an anonymous route: a presented certificate must verify.
  auto https = HttpsClient::connect(pki().client_tls(&pki().foreign_device), "127.0.0.1", server->port(),
                                    kTimeout);
  if (https) {
    EXPECT_FALSE((*https)->request(Method::kGet, "/enroll/hello").has_value());
  }
  EXPECT_TRUE(ws_works(server->port(), &pki().device1));
}

TEST(Tls, AcceptPeerCallbackRejectsRevokedDevice) {
  std::mutex mu;
  std::set<std::string> revoked{to_hex(pki().device2.fingerprint())};
  auto server = start_server(device_router(), [&](ServerConfig& c) {
    c.tls.accept_peer = [&](const PeerCertificate& peer) {
      std::lock_guard lock(mu);
      return revoked.count(peer.fingerprint_hex()) == 0;
    };
  });
  auto client = WebSocketClient::connect(pki().client_tls(&pki().device2), "127.0.0.1", server->port(), "/ws",
                                         kTimeout);
  ASSERT_FALSE(client.has_value());
  EXPECT_TRUE(ws_works(server->port(), &pki().device1));
}

TEST(Tls, Tls12ClientIsRefused) {
  auto server = start_server(device_router());
  testing::RawTlsClient old_client(server->port(), TLS1_2_VERSION, &pki().device1);
  EXPECT_FALSE(old_client.handshake());
  EXPECT_THAT(old_client.error(), HasSubstr("protocol version"));
  testing::RawTlsClient current(server->port(), TLS1_3_VERSION, &pki().device1);
  EXPECT_TRUE(current.handshake()) << current.error();
}

TEST(Tls, ClientVerifiesTheServerName) {
  auto server = start_server(device_router());
  TlsClientConfig wrong_name = pki().client_tls(&pki().device1);
  wrong_name.server_name = "relay.example.org";
  EXPECT_FALSE(HttpsClient::connect(wrong_name, "127.0.0.1", server->port(), kTimeout).has_value());
  TlsClientConfig wrong_ca = pki().client_tls(&pki().device1);
  wrong_ca.ca = PemSource::memory(testing::TestCa("Untrusted").cert_pem());
  EXPECT_FALSE(HttpsClient::connect(wrong_ca, "127.0.0.1", server->port(), kTimeout).has_value());
  TlsClientConfig by_dns = pki().client_tls(&pki().device1);
  by_dns.server_name = "localhost";
  EXPECT_TRUE(HttpsClient::connect(by_dns, "127.0.0.1", server->port(), kTimeout).has_value());
}

TEST(Tls, GarbageInsteadOfHandshakeIsClosedAndServerCarriesOn) {
  auto server = start_server(device_router());
  testing::RawSocket raw(server->port());
  ASSERT_TRUE(raw.connected());
  ASSERT_TRUE(raw.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01\xff\xff garbage garbage"));
  EXPECT_TRUE(raw.closed_within(kTimeout));
  EXPECT_TRUE(eventually([&] { return server->connection_count() == 0; }));
  EXPECT_TRUE(ws_works(server->port(), &pki().device1));
}

TEST(Tls, SilentClientIsClosedAfterHandshakeTimeout) {
  auto server = start_server(device_router(), [](ServerConfig& c) { c.limits.handshake_timeout = Millis(300); });
  const auto start = std::chrono::steady_clock::now();
  testing::RawSocket raw(server->port());
  ASSERT_TRUE(raw.connected());
  EXPECT_TRUE(raw.closed_within(kTimeout));
  EXPECT_GE(std::chrono::steady_clock::now() - start, Millis(250));
  EXPECT_TRUE(ws_works(server->port(), &pki().device1));
}

TEST(Tls, ConnectionLimitRefusesTheExtraConnection) {
  auto server = start_server(device_router(), [](ServerConfig& c) { c.limits.max_connections = 2; });
  auto a = WebSocketClient::connect(pki().client_tls(&pki().device1), "127.0.0.1", server->port(), "/ws", kTimeout);
  auto b = WebSocketClient::connect(pki().client_tls(&pki().device2), "127.0.0.1", server->port(), "/ws", kTimeout);
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  ASSERT_EQ(server->connection_count(), 2u);
  EXPECT_FALSE(ws_works(server->port(), &pki().device1));
  ASSERT_TRUE((*a)->close());
  ASSERT_TRUE(eventually([&] { return server->connection_count() == 1; }));
  EXPECT_TRUE(ws_works(server->port(), &pki().device1));
}

TEST(Tls, KillPeerClosesItsLiveSessionsWithinASecond) {
  auto server = start_server(device_router());
  auto connect = [&](const testing::Credential& cert) {
    auto c = WebSocketClient::connect(pki().client_tls(&cert), "127.0.0.1", server->port(), "/ws", kTimeout);
    EXPECT_TRUE(c.has_value());
    return std::move(c).release_value();
  };
  auto first = connect(pki().device1);
  auto second = connect(pki().device1);
  auto other = connect(pki().device2);
  // Each is registered with its fingerprint once its echo has come back.
  for (auto* c : {first.get(), second.get(), other.get()}) {
    ASSERT_TRUE(c->send(to_bytes("x")));
    ASSERT_TRUE(c->receive().has_value());
  }

  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(server->kill_peer(pki().device1.fingerprint()), 2u);
  for (auto* c : {first.get(), second.get()}) {
    EXPECT_FALSE(c->receive(kTimeout).has_value());
    ASSERT_TRUE(c->close_info().has_value());
    EXPECT_EQ(c->close_info()->code, static_cast<std::uint16_t>(CloseCode::kPolicyViolation));
    EXPECT_EQ(c->close_info()->reason, "peer revoked");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, Millis(1000));
  ASSERT_TRUE(other->send(to_bytes("still here")));
  auto echo = other->receive();
  ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(*echo, to_bytes("still here"));
  EXPECT_EQ(server->kill_peer(pki().foreign_device.fingerprint()), 0u);
}

TEST(Tls, KeysAndCertificatesLoadFromFiles) {
  char dir_template[] = "/tmp/pmos-net-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name) << text;
    return dir + "/" + name;
  };
  TlsServerConfig tls;
  tls.certificate_chain = PemSource::file(write("server.pem", pki().server.cert_pem));
  tls.private_key = PemSource::file(write("server.key", pki().server.key_pem));
  tls.client_ca = PemSource::file(write("ca.pem", pki().org_ca.cert_pem()));
  auto server = start_server(device_router(), [&](ServerConfig& c) { c.tls = tls; });
  EXPECT_TRUE(ws_works(server->port(), &pki().device1));

  ServerConfig missing;
  missing.tls = tls;
  missing.tls.private_key = PemSource::file(dir + "/does-not-exist.key");
  EXPECT_FALSE(Server::create(missing, Router()).has_value());
  ServerConfig mismatched;
  mismatched.tls = tls;
  mismatched.tls.private_key = PemSource::memory(pki().device1.key_pem);
  EXPECT_FALSE(Server::create(mismatched, Router()).has_value());
  for (const char* name : {"server.pem", "server.key", "ca.pem"}) std::remove((dir + "/" + name).c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace pmos::net

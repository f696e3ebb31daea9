// The HTTPS + JSON router as a client sees it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <stdexcept>

#include "pmos/net/client.h"
#include "pmos/net/server.h"
#include "raw_tls.h"
#include "test_pki.h"

namespace pmos::net {
namespace {

using testing::eventually;
using testing::pki;
using testing::start_server;
using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr Millis kTimeout{10'000};

Router api_router() {
  Router router;
  EXPECT_TRUE(router.add(Method::kGet, "/v1/users/{user}/devices/{device}", [](const Request& r) -> ErrorOr<Response> {
    return Response::json({{"user", r.param("user")},
                           {"device", r.param("device")},
                           {"query", r.query},
                           {"peer", r.peer ? r.peer->common_name : ""}});
  }));
  EXPECT_TRUE(router.add(Method::kPost, "/v1/echo", [](const Request& r) -> ErrorOr<Response> {
    json body = TRY(r.json());
    return Response::json({{"echo", body}}, 201);
  }, {.max_body_bytes = 1024}));
  EXPECT_TRUE(router.add(Method::kDelete, "/v1/echo", [](const Request&) -> ErrorOr<Response> {
    return Response::json(json::object());
  }));
  EXPECT_TRUE(router.add(Method::kGet, "/v1/fail/internal", [](const Request&) -> ErrorOr<Response> {
    return Error::internal("database handle is null");
  }));
  EXPECT_TRUE(router.add(Method::kGet, "/v1/fail/throw", [](const Request&) -> ErrorOr<Response> {
    throw std::runtime_error("bug");
  }));
  EXPECT_TRUE(router.add(Method::kGet, "/v1/fail/missing", [](const Request&) -> ErrorOr<Response> {
    return Error::not_found("no such device");
  }));
  EXPECT_TRUE(router.add(Method::kGet, "/admin/stats", [](const Request& r) -> ErrorOr<Response> {
    auto token = r.bearer_token();
    if (!token || *token != "s3cret") return Response::error(401, "bad token");
    return Response::json({{"ok", true}});
  }, {.auth = PeerAuth::kAnonymous}));
  return router;
}

struct HttpTest : ::testing::Test {
  void SetUp() override {
    server = start_server(api_router());
    auto c = HttpsClient::connect(pki().client_tls(&pki().device1), "127.0.0.1", server->port(), kTimeout);
    ASSERT_TRUE(c.has_value()) << c.error().to_string();
    client = std::move(c).release_value();
  }
  Response get(std::string_view target) {
    auto r = client->request(Method::kGet, target);
    EXPECT_TRUE(r.has_value()) << client->last_error_detail();
    return r ? *r : Response{};
  }
  static json body(const Response& r) { return json::parse(r.body, nullptr, false); }

  std::unique_ptr<Server> server;
  std::unique_ptr<HttpsClient> client;
};

TEST_F(HttpTest, RoutesWithPathParametersAndPeer) {
  Response r = get("/v1/users/alice/devices/d1?verbose=1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(body(r), (json{{"user", "alice"}, {"device", "d1"}, {"query", "verbose=1"}, {"peer", "device-1"}}));
}

TEST_F(HttpTest, KeepAliveServesManyRequestsOnOneConnection) {
  for (int i = 0; i < 20; ++i) {
    Response r = get("/v1/users/u" + std::to_string(i) + "/devices/d");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(body(r)["user"], "u" + std::to_string(i));
  }
  EXPECT_EQ(server->connection_count(), 1u);
}

TEST_F(HttpTest, PostJsonAndMalformedJson) {
  auto r = client->request(Method::kPost, "/v1/echo", R"({"a":[1,2,3]})");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(body(*r), (json{{"echo", {{"a", {1, 2, 3}}}}}));
  auto bad = client->request(Method::kPost, "/v1/echo", "{\"a\": ");
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(body(*bad)["error"], "request body is not valid JSON");
}

TEST_F(HttpTest, UnknownPathIs404WithJsonError) {
  Response r = get("/v2/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(body(r), (json{{"error", "not found"}}));
  // The connection is still usable.
  EXPECT_EQ(get("/v1/users/a/devices/b").status, 200);
}

TEST_F(HttpTest, WrongMethodIs405WithAllowHeader) {
  auto r = client->request(Method::kPut, "/v1/echo", "{}");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("allow"), "POST, DELETE");
  EXPECT_EQ(body(*r)["error"], "method not allowed");
}

TEST_F(HttpTest, BodyOverTheRouteLimitIs413) {
  std::string big = "{\"pad\":\"" + std::string(2000, 'x') + "\"}";
  auto r = client->request(Method::kPost, "/v1/echo", big);
  ASSERT_TRUE(r.has_value()) << client->last_error_detail();
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(body(*r)["error"], "request body too large");
  EXPECT_EQ(r->header("connection"), "close");
  // The server is fine; a new connection works.
  auto fresh = HttpsClient::connect(pki().client_tls(&pki().device1), "127.0.0.1", server->port(), kTimeout);
  ASSERT_TRUE(fresh.has_value());
  auto ok = (*fresh)->request(Method::kPost, "/v1/echo", "{}");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 201);
}

TEST_F(HttpTest, HandlerErrorsBecomeJsonErrors) {
  Response internal = get("/v1/fail/internal");
  EXPECT_EQ(internal.status, 500);
  // The internal message stays in the log.
  EXPECT_EQ(body(internal), (json{{"error", "internal error"}}));
  Response thrown = get("/v1/fail/throw");
  EXPECT_EQ(thrown.status, 500);
  Response missing = get("/v1/fail/missing");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(body(missing)["error"], "no such device");
  EXPECT_EQ(get("/v1/users/a/devices/b").status, 200);
}

TEST_F(HttpTest, HeadAnswersLikeGetWithoutBody) {
  auto r = client->request(Method::kHead, "/v1/users/a/devices/b");
  ASSERT_TRUE(r.has_value()) << client->last_error_detail();
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());
  EXPECT_EQ(get("/v1/users/a/devices/b").status, 200);
}

TEST_F(HttpTest, AdminRouteWithBearerTokenNeedsNoClientCertificate) {
  auto anonymous = HttpsClient::connect(pki().client_tls(nullptr), "127.0.0.1", server->port(), kTimeout);
  ASSERT_TRUE(anonymous.has_value());
  auto denied = (*anonymous)->request(Method::kGet, "/admin/stats");
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ(denied->status, 401);
  auto allowed = (*anonymous)->request(Method::kGet, "/admin/stats", {}, {{"Authorization", "Bearer s3cret"}});
  ASSERT_TRUE(allowed.has_value());
  EXPECT_EQ(allowed->status, 200);
  auto device_route = (*anonymous)->request(Method::kGet, "/v1/users/a/devices/b");
  ASSERT_TRUE(device_route.has_value());
  EXPECT_EQ(device_route->status, 403);
}

TEST_F(HttpTest, OversizedHeaderIs431) {
  auto r = client->request(Method::kGet, "/v1/users/a/devices/b", {}, {{"x-pad", std::string(20'000, 'h')}});
  ASSERT_TRUE(r.has_value()) << client->last_error_detail();
  EXPECT_EQ(r->status, 431);
}

TEST(Http, SlowRequestIsClosedAfterRequestTimeout) {
  auto server = start_server(api_router(), [](ServerConfig& c) { c.limits.request_timeout = Millis(500); });
  testing::RawTlsClient slow(server->port(), TLS1_3_VERSION, &pki().device1);
  ASSERT_TRUE(slow.handshake()) << slow.error();
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(slow.write("GET /v1/users/a/devices/b HTTP/1.1\r\nHost: x\r\n"));  // never finished
  EXPECT_TRUE(slow.closed_within(kTimeout));
  EXPECT_GE(std::chrono::steady_clock::now() - start, Millis(400));
  auto client = HttpsClient::connect(pki().client_tls(&pki().device1), "127.0.0.1", server->port(), kTimeout);
  ASSERT_TRUE(client.has_value());
  auto r = (*client)->request(Method::kGet, "/v1/users/a/devices/b");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpTest, MalformedRequestIs400AndClosed) {
  testing::RawTlsClient raw(server->port(), TLS1_3_VERSION, &pki().device1);
  ASSERT_TRUE(raw.handshake()) << raw.error();
  ASSERT_TRUE(raw.write("THIS IS NOT HTTP\r\n\r\n"));
  EXPECT_TRUE(raw.closed_within(kTimeout));
  EXPECT_EQ(get("/v1/users/a/devices/b").status, 200);
}

}  // namespace
}  // namespace pmos::net

#include "pmos/net/router.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace pmos::net {
namespace {

Handler answer(std::string text) {
  return [text](const Request&) -> ErrorOr<Response> { return Response::text(text); };
}

std::string call(const Router::Match& match) {
  if (match.status != Router::MatchStatus::kFound) return "<none>";
  return match.route->handler(Request{}).value().body;
}

TEST(Router, MatchesLiteralAndParameterSegments) {
  Router router;
  ASSERT_TRUE(router.add(Method::kGet, "/v1/groups/{group}/messages/{seq}", answer("messages")));
  ASSERT_TRUE(router.add(Method::kGet, "/", answer("root")));
  auto match = router.match(Method::kGet, "/v1/groups/g7/messages/42", false);
  ASSERT_EQ(match.status, Router::MatchStatus::kFound);
  EXPECT_EQ(call(match), "messages");
  EXPECT_EQ(match.params.at("group"), "g7");
  EXPECT_EQ(match.params.at("seq"), "42");
  EXPECT_EQ(call(router.match(Method::kGet, "/", false)), "root");
}

TEST(Router, LiteralSegmentWinsOverParameter) {
  Router router;
  ASSERT_TRUE(router.add(Method::kGet, "/v1/devices/{id}", answer("by id")));
  ASSERT_TRUE(router.add(Method::kGet, "/v1/devices/self", answer("self")));
  EXPECT_EQ(call(router.match(Method::kGet, "/v1/devices/self", false)), "self");
  EXPECT_EQ(call(router.match(Method::kGet, "/v1/devices/d9", false)), "by id");
}

TEST(Router, UnknownPathIsNotFoundAndWrongMethodListsAllowed) {
  Router router;
  ASSERT_TRUE(router.add(Method::kGet, "/items/{id}", answer("get")));
  ASSERT_TRUE(router.add(Method::kDelete, "/items/{id}", answer("delete")));
  EXPECT_EQ(router.match(Method::kGet, "/nothing", false).status, Router::MatchStatus::kNotFound);
  EXPECT_EQ(router.match(Method::kGet, "/items", false).status, Router::MatchStatus::kNotFound);
  EXPECT_EQ(router.match(Method::kGet, "/items/1/extra", false).status, Router::MatchStatus::kNotFound);
  auto match = router.match(Method::kPost, "/items/1", false);
  EXPECT_EQ(match.status, Router::MatchStatus::kMethodNotAllowed);
  EXPECT_EQ(match.allow, "GET, DELETE");
}

TEST(Router, ParameterNeverMatchesAnEmptySegment) {
  Router router;
  ASSERT_TRUE(router.add(Method::kGet, "/a/{x}", answer("a")));
  EXPECT_EQ(router.match(Method::kGet, "/a/", false).status, Router::MatchStatus::kNotFound);
  EXPECT_EQ(router.match(Method::kGet, "/a//", false).status, Router::MatchStatus::kNotFound);
  EXPECT_EQ(router.match(Method::kGet, "a/b", false).status, Router::MatchStatus::kNotFound);
}

TEST(Router, HeadFallsBackToGet) {
  Router router;
  ASSERT_TRUE(router.add(Method::kGet, "/healthz", answer("ok")));
  EXPECT_EQ(call(router.match(Method::kHead, "/healthz", false)), "ok");
}

TEST(Router, WebSocketRoutesAreSeparateFromHttpRoutes) {
  Router router;
  ASSERT_TRUE(router.add(Method::kGet, "/v1/relay", answer("http")));
  WebSocketHandlers handlers;
  handlers.on_message = [](WebSocketSession&, Bytes) {};
  ASSERT_TRUE(router.add_websocket("/v1/relay", handlers));
  auto ws = router.match(Method::kGet, "/v1/relay", true);
  ASSERT_EQ(ws.status, Router::MatchStatus::kFound);
  EXPECT_NE(ws.route->websocket, nullptr);
  auto plain = router.match(Method::kGet, "/v1/relay", false);
  ASSERT_EQ(plain.status, Router::MatchStatus::kFound);
  EXPECT_EQ(plain.route->websocket, nullptr);
  // An upgrade to a path with only HTTP routes finds nothing.
  ASSERT_TRUE(router.add(Method::kGet, "/only-http", answer("x")));
  EXPECT_NE(router.match(Method::kGet, "/only-http", true).status, Router::MatchStatus::kFound);
}

TEST(Router, RejectsMalformedAndDuplicateRoutes) {
  Router router;
  EXPECT_FALSE(router.add(Method::kGet, "no-slash", answer("x")));
  EXPECT_FALSE(router.add(Method::kGet, "/a//b", answer("x")));
  EXPECT_FALSE(router.add(Method::kGet, "/a/{b", answer("x")));
  EXPECT_FALSE(router.add(Method::kGet, "/a/x{b}", answer("x")));
  EXPECT_FALSE(router.add(Method::kGet, "/a", nullptr));
  ASSERT_TRUE(router.add(Method::kGet, "/a/{b}", answer("x")));
  EXPECT_FALSE(router.add(Method::kGet, "/a/{other}", answer("y")));
  EXPECT_TRUE(router.add(Method::kPost, "/a/{other}", answer("y")));
  WebSocketHandlers no_message;
  EXPECT_FALSE(router.add_websocket("/ws", no_message));
}

TEST(Router, LargestBodyLimitCoversEveryRoute) {
  Router router;
  ASSERT_TRUE(router.add(Method::kPost, "/small", answer("x"), {.max_body_bytes = 10}));
  EXPECT_EQ(router.max_body_bytes(1000), 1000u);
  ASSERT_TRUE(router.add(Method::kPost, "/big", answer("x"), {.max_body_bytes = 5000}));
  EXPECT_EQ(router.max_body_bytes(1000), 5000u);
}

TEST(Request, HeadersBearerTokenAndJson) {
  Request request;
  request.headers = {{"authorization", "Bearer abc.def"}, {"x-thing", "1"}};
  EXPECT_EQ(request.header("X-Thing"), "1");
  EXPECT_EQ(request.header("missing"), "");
  ASSERT_TRUE(request.bearer_token().has_value());
  EXPECT_EQ(*request.bearer_token(), "abc.def");
  request.headers = {{"authorization", "Basic Zm9v"}};
  EXPECT_FALSE(request.bearer_token().has_value());
  request.headers = {{"authorization", "Bearer "}};
  EXPECT_FALSE(request.bearer_token().has_value());
  request.body = "{not json";
  ASSERT_FALSE(request.json().has_value());
  EXPECT_EQ(request.json().error().category(), ErrorCategory::kDecode);
}

}  // namespace
}  // namespace pmos::net

#include "pmos/pkg/endpoint.h"

#include <gtest/gtest.h>

namespace pmos::pkg {
namespace {

EndpointPattern P(std::string_view text) {
  auto pattern = EndpointPattern::parse(text);
  EXPECT_TRUE(pattern.has_value()) << text;
  return std::move(pattern).value();
}

TEST(EndpointPattern, AcceptsTheGrammar) {
  for (const char* text : {"api.agency.example:443", "*.agency.example:443", "localhost:8080",
                           "10.0.0.1:53", "a-b.c0.example:1", "x.example:65535", "tiles.maps.example:*",
                           "*.maps.example:*", "255.255.255.255:1"}) {
    auto pattern = EndpointPattern::parse(text);
    ASSERT_TRUE(pattern.has_value()) << text;
    EXPECT_EQ(pattern->text(), text);  // canonical
  }
}

TEST(EndpointPattern, RefusesAnythingElse) {
  for (const char* text : {
           "", ":", "host", "host:", ":443", "*:443", "*", "*.com:443",  // whole TLDs or everything
           "*.*.example.com:443", "foo*.example.com:443", "a.*.example.com:443", "*example.com:443",
           "API.agency.example:443",                         // upper case is not canonical
           "api.agency.example.:443", ".api.example:443",    // trailing / leading dot
           "a..b:443", "-a.example:443", "a-.example:443",   // empty label, hyphen at the ends
           "a_b.example:443", "a b.example:443",             // characters outside [a-z0-9-]
           "host:0", "host:65536", "host:0443", "host:-1", "host:+443", "host:44 3", "host:4430000",
           "host:443:1", "[::1]:443", "::1:443",             // IPv6 not supported
           "1.2.3:443", "1.2.3.4.5:443", "256.1.1.1:443", "01.2.3.4:443",
           "*.1.2.3:443", "1.2.3.999:443",
           "example.123:443",                                // numeric TLD: looks like an address
       }) {
    EXPECT_FALSE(EndpointPattern::parse(text).has_value()) << text;
  }
  std::string long_label(64, 'a');
  EXPECT_FALSE(EndpointPattern::parse(long_label + ".example:443").has_value());
  std::string long_name;
  for (int i = 0; i < 64; ++i) long_name += "abc.";
  EXPECT_FALSE(EndpointPattern::parse(long_name + "example:443").has_value());
  EXPECT_TRUE(EndpointPattern::parse(std::string(63, 'a') + ".example:443").has_value());
}

TEST(EndpointPattern, ExactMatching) {
  EndpointPattern p = P("api.agency.example:443");
  EXPECT_TRUE(p.matches("api.agency.example", 443));
  EXPECT_TRUE(p.matches("API.Agency.Example", 443));  // hosts compare without ASCII case
  EXPECT_FALSE(p.matches("api.agency.example", 444));
  EXPECT_FALSE(p.matches("api.agency.example.", 443));  // trailing dot is a different spelling
  EXPECT_FALSE(p.matches("x.api.agency.example", 443));
  EXPECT_FALSE(p.matches("agency.example", 443));
  EXPECT_FALSE(p.matches("api.agency.example.evil", 443));
  EXPECT_FALSE(p.matches("api.agency.exampl", 443));
  EXPECT_FALSE(p.matches(std::string_view("api.agency.example\0x", 20), 443));
  EXPECT_FALSE(p.matches("", 443));
  EXPECT_FALSE(p.matches("api.agency.example", 0));
}

TEST(EndpointPattern, WildcardMatchesExactlyOneLabel) {
  EndpointPattern p = P("*.agency.example:443");
  EXPECT_TRUE(p.matches("api.agency.example", 443));
  EXPECT_TRUE(p.matches("chat-1.agency.example", 443));
  EXPECT_FALSE(p.matches("agency.example", 443));          // no label for the *
  EXPECT_FALSE(p.matches("a.b.agency.example", 443));      // two labels
  EXPECT_FALSE(p.matches("evilagency.example", 443));      // suffix without the dot
  EXPECT_FALSE(p.matches("api.agency.example.evil.com", 443));
  EXPECT_FALSE(p.matches(".agency.example", 443));
  EXPECT_FALSE(p.matches("api.agency.example", 80));
  EXPECT_FALSE(p.matches("1.2.3.4", 443));
}

TEST(EndpointPattern, AnyPortAndAddresses) {
  EndpointPattern any = P("tiles.maps.example:*");
  EXPECT_TRUE(any.matches("tiles.maps.example", 1));
  EXPECT_TRUE(any.matches("tiles.maps.example", 65535));
  EXPECT_FALSE(any.matches("tiles.maps.example", 0));
  EndpointPattern ip = P("10.0.0.1:53");
  EXPECT_TRUE(ip.matches("10.0.0.1", 53));
  EXPECT_FALSE(ip.matches("10.0.0.01", 53));
  EXPECT_FALSE(ip.matches("10.0.0.1", 54));
  EXPECT_FALSE(P("localhost:53").matches("10.0.0.1", 53));
}

TEST(EndpointPattern, Covers) {
  EXPECT_TRUE(P("*.agency.example:443").covers(P("api.agency.example:443")));
  EXPECT_TRUE(P("*.agency.example:443").covers(P("*.agency.example:443")));
  EXPECT_FALSE(P("*.agency.example:443").covers(P("a.b.agency.example:443")));
  EXPECT_FALSE(P("*.agency.example:443").covers(P("agency.example:443")));
  EXPECT_FALSE(P("*.agency.example:443").covers(P("*.b.agency.example:443")));
  EXPECT_FALSE(P("*.agency.example:443").covers(P("api.agency.example:*")));  // any port is wider
  EXPECT_FALSE(P("*.agency.example:443").covers(P("api.agency.example:80")));
  EXPECT_TRUE(P("*.agency.example:*").covers(P("api.agency.example:80")));
  EXPECT_TRUE(P("*.agency.example:*").covers(P("*.agency.example:443")));
  EXPECT_TRUE(P("api.agency.example:443").covers(P("api.agency.example:443")));
  EXPECT_FALSE(P("api.agency.example:443").covers(P("*.agency.example:443")));
  EXPECT_TRUE(P("10.0.0.1:*").covers(P("10.0.0.1:53")));
  EXPECT_FALSE(P("10.0.0.1:53").covers(P("10.0.0.2:53")));
}

}  // namespace
}  // namespace pmos::pkg

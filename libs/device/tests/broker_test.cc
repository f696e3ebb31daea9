#include "pmos/device/broker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "pmos/base/file.h"
#include "pmos/device/broker_client.h"
#include "pmos/device/grants.h"
#include "test_util.h"

namespace pmos::device {
namespace {

using pkg::testing::TempDir;

// A TCP server on 127.0.0.1 that answers each connection with "hello <n>".
class EchoServer {
 public:
  EchoServer() {
    fd_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    VERIFY(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    VERIFY(::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    VERIFY(::listen(fd_.get(), 8) == 0);
    thread_ = std::thread([this] {
      for (int n = 0;; ++n) {
        UniqueFd c(::accept(fd_.get(), nullptr, nullptr));
        if (!c) return;
        std::string reply = "hello " + std::to_string(n);
        (void)!::write(c.get(), reply.data(), reply.size());
      }
    });
  }
  ~EchoServer() {
    ::shutdown(fd_.get(), SHUT_RDWR);
    thread_.join();
  }
  std::uint16_t port() const { return port_; }

 private:
  UniqueFd fd_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

std::string read_some(int fd) {
  char buffer[64];
  ssize_t n = ::read(fd, buffer, sizeof buffer);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : "";
}

pkg::EndpointPattern pattern(const std::string& text) { return pkg::EndpointPattern::parse(text).value(); }

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    audit_ = AuditLog::open((dir_.path() / "audit.log").string(), (dir_.path() / "audit.head").string(),
                            pkg::testing::new_key())
                 .value();
  }

  // Serves `grants` on one end of a SEQPACKET pair; the test is the app.
  void start(Grants grants) {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
    broker_end_ = UniqueFd(pair[0]);
    app_end_ = UniqueFd(pair[1]);
    Broker::Options options;
    options.on_notification = [this](std::string_view, std::string_view title, std::string_view) {
      notified_ = std::string(title);
    };
    broker_ = std::make_unique<Broker>("org.agency.notes", std::move(grants), *audit_, options);
    thread_ = std::thread([this] { served_ = broker_->serve(broker_end_.get()).has_value(); });
  }
  void TearDown() override {
    app_end_.reset();  // the app is gone: serve() returns
    if (thread_.joinable()) thread_.join();
    EXPECT_TRUE(served_);
  }

  std::vector<AuditEntry> audit_entries() const {
    return decode_audit_log(read_file((dir_.path() / "audit.log").string()).value()).value();
  }

  TempDir dir_;
  std::unique_ptr<AuditLog> audit_;
  UniqueFd broker_end_, app_end_;
  std::unique_ptr<Broker> broker_;
  std::thread thread_;
  bool served_ = true;
  std::string notified_;
};

TEST_F(BrokerTest, GrantedEndpointIsConnectedAndDeniedOneRefused) {
  EchoServer allowed, other;
  Grants grants;
  grants.endpoints = {pattern("127.0.0.1:" + std::to_string(allowed.port()))};
  start(grants);

  std::string error;
  int fd = broker_client::connect(app_end_.get(), "127.0.0.1", allowed.port(), &error);
  ASSERT_GE(fd, 0) << error;
  EXPECT_EQ(read_some(fd), "hello 0");
  ::close(fd);

  fd = broker_client::connect(app_end_.get(), "127.0.0.1", other.port(), &error);
  EXPECT_EQ(fd, -1);
  EXPECT_EQ(error, "endpoint not granted");

  auto entries = audit_entries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].body.event, AuditEvent::kConnection);
  EXPECT_NE(entries[0].body.detail.find("connected to 127.0.0.1:" + std::to_string(allowed.port())),
            std::string::npos)
      << entries[0].body.detail;
  EXPECT_EQ(entries[1].body.event, AuditEvent::kDenial);
  EXPECT_NE(entries[1].body.detail.find("127.0.0.1:" + std::to_string(other.port()) + " refused"), std::string::npos);
}

TEST_F(BrokerTest, NamesResolvingToLoopbackAreNotConnected) {
  // "localhost" is granted, but it is the phone itself: only a grant naming
  // the address literally may reach loopback.
  EchoServer server;
  Grants grants;
  grants.endpoints = {pattern("localhost:" + std::to_string(server.port()))};
  start(grants);
  std::string error;
  EXPECT_EQ(broker_client::connect(app_end_.get(), "localhost", server.port(), &error), -1);
  EXPECT_EQ(error, "connection failed");
  auto entries = audit_entries();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_NE(entries[0].body.detail.find("local address"), std::string::npos) << entries[0].body.detail;
}

TEST_F(BrokerTest, ClosedPortFails) {
  std::uint16_t port;
  {
    EchoServer gone;
    port = gone.port();
  }
  Grants grants;
  grants.endpoints = {pattern("127.0.0.1:*")};
  start(grants);
  std::string error;
  EXPECT_EQ(broker_client::connect(app_end_.get(), "127.0.0.1", port, &error), -1);
  EXPECT_EQ(error, "connection failed");
}

TEST_F(BrokerTest, NotificationsNeedTheCapability) {
  start(Grants{});
  std::string error;
  EXPECT_FALSE(broker_client::notify(app_end_.get(), "Hi", "there", &error));
  EXPECT_EQ(error, "notifications not granted");
  EXPECT_TRUE(notified_.empty());
}

TEST_F(BrokerTest, NotificationsAreRecordedAndForwarded) {
  Grants grants;
  grants.capabilities = {pkg::Capability::kNotifications};
  start(grants);
  std::string error;
  EXPECT_TRUE(broker_client::notify(app_end_.get(), "Form saved", std::string(200, 'x'), &error)) << error;
  app_end_.reset();
  thread_.join();
  EXPECT_EQ(notified_, "Form saved");
  auto entries = audit_entries();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].body.event, AuditEvent::kNotification);
}

TEST_F(BrokerTest, MalformedRequestsAndDescriptorsAreRefused) {
  start(Grants{});
  auto exchange = [&](const Bytes& request, int pass_fd = -1) {
    iovec iov{const_cast<std::uint8_t*>(request.data()), request.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (pass_fd >= 0) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    EXPECT_GE(::sendmsg(app_end_.get(), &msg, 0), 0);
    std::uint8_t buffer[4096];
    ssize_t n = ::recv(app_end_.get(), buffer, sizeof buffer, 0);
    EXPECT_GT(n, 0);
    return decode_broker_response(BytesView(buffer, n > 0 ? static_cast<std::size_t>(n) : 0)).value();
  };
  EXPECT_EQ(exchange({1, 9}).status, BrokerStatus::kBadRequest);
  EXPECT_EQ(exchange(Bytes(3000, 1)).status, BrokerStatus::kBadRequest);
  BrokerRequest request{BrokerRequestType::kConnect, "127.0.0.1", 80, "", ""};
  EXPECT_EQ(exchange(encode_broker_request(request), 0).status, BrokerStatus::kBadRequest);
  EXPECT_EQ(exchange(encode_broker_request(request)).status, BrokerStatus::kDenied);
}

TEST(BrokerCodec, RoundTripsAndMatchesTheClient) {
  BrokerRequest connect{BrokerRequestType::kConnect, "api.agency.example", 443, "", ""};
  Bytes encoded = encode_broker_request(connect);
  auto decoded = decode_broker_request(encoded);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->host, "api.agency.example");
  EXPECT_EQ(decoded->port, 443);
  // The header-only client builds the same bytes (checked through a broker
  // in the tests above; here the long-field varint form).
  BrokerRequest notify{BrokerRequestType::kNotify, "", 0, "t", std::string(300, 'y')};
  auto round = decode_broker_request(encode_broker_request(notify));
  ASSERT_TRUE(round.has_value());
  EXPECT_EQ(round->text.size(), 300u);
}

TEST(BrokerCodec, IsStrict) {
  Bytes good = encode_broker_request({BrokerRequestType::kConnect, "a.example", 443, "", ""});
  ASSERT_TRUE(decode_broker_request(good).has_value());
  Bytes trailing = good;
  trailing.push_back(0);
  EXPECT_FALSE(decode_broker_request(trailing).has_value());
  Bytes version = good;
  version[0] = 2;
  EXPECT_FALSE(decode_broker_request(version).has_value());
  Bytes type = good;
  type[1] = 3;
  EXPECT_FALSE(decode_broker_request(type).has_value());
  EXPECT_FALSE(decode_broker_request(encode_broker_request({BrokerRequestType::kConnect, "a.example", 0, "", ""})));
  EXPECT_FALSE(decode_broker_request(encode_broker_request({BrokerRequestType::kConnect, "", 1, "", ""})));
  EXPECT_FALSE(decode_broker_request(encode_broker_request({BrokerRequestType::kConnect, "a\nb", 1, "", ""})));
  EXPECT_FALSE(decode_broker_request(encode_broker_request({BrokerRequestType::kConnect, std::string(254, 'a'), 1, "", ""})));
  EXPECT_FALSE(decode_broker_request(encode_broker_request({BrokerRequestType::kNotify, "", 0, "", "x"})));
  EXPECT_FALSE(decode_broker_request(good.data() == nullptr ? BytesView{} : BytesView(good).first(good.size() - 1)));
  Bytes response = encode_broker_response({BrokerStatus::kDenied, "no"});
  ASSERT_TRUE(decode_broker_response(response).has_value());
  response[1] = 4;
  EXPECT_EQ(decode_broker_response(response).value().status, BrokerStatus::kRateLimited);
  response[1] = 5;
  EXPECT_FALSE(decode_broker_response(response).has_value());
}

// An app that floods the broker is refused beyond its rate, and the audit
// log gets one entry per episode (plus its count), not one per request.
TEST(BrokerRateLimit, RefusesBeyondTheBucketAndAuditsEpisodesNotRequests) {
  TempDir dir;
  auto audit = AuditLog::open((dir.path() / "audit.log").string(), (dir.path() / "audit.head").string(),
                              pkg::testing::new_key())
                   .value();
  auto clock = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  Broker::Options options;
  options.requests_per_second = 10;
  options.burst = 5;
  options.now = [&] { return clock; };
  Broker broker("org.agency.flood", Grants{}, *audit, options);
  Bytes notify = encode_broker_request({BrokerRequestType::kNotify, "", 0, "t", "x"});
  for (int i = 0; i < 5; ++i) EXPECT_EQ(broker.handle(notify).response.status, BrokerStatus::kDenied) << i;
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(broker.handle(notify).response.status, BrokerStatus::kRateLimited) << i;
  auto entries = decode_audit_log(read_file((dir.path() / "audit.log").string()).value()).value();
  ASSERT_EQ(entries.size(), 6u) << "5 refusals by policy, then one for the whole flood";
  EXPECT_NE(entries[5].body.detail.find("over the rate limit (10/s, burst 5)"), std::string::npos)
      << entries[5].body.detail;

  clock += std::chrono::milliseconds(150);  // 1.5 tokens
  EXPECT_EQ(broker.handle(notify).response.status, BrokerStatus::kDenied);
  EXPECT_EQ(broker.handle(notify).response.status, BrokerStatus::kRateLimited);
  entries = decode_audit_log(read_file((dir.path() / "audit.log").string()).value()).value();
  ASSERT_EQ(entries.size(), 9u);
  EXPECT_EQ(entries[6].body.detail, "1000 requests refused over the rate limit");
  EXPECT_NE(entries[8].body.detail.find("over the rate limit"), std::string::npos) << "a new episode";

  clock += std::chrono::hours(1);  // the bucket holds no more than its burst
  for (int i = 0; i < 5; ++i) EXPECT_EQ(broker.handle(notify).response.status, BrokerStatus::kDenied) << i;
  EXPECT_EQ(broker.handle(notify).response.status, BrokerStatus::kRateLimited);
}

TEST(Grants, AreTheManifestWithinTheStandard) {
  pkg::Manifest manifest = pkg::testing::sample_manifest();  // productivity
  manifest.permissions.network = {"api.agency.example:443", "evil.example:443"};
  manifest.permissions.capabilities = {pkg::Capability::kNotifications, pkg::Capability::kCamera};
  Grants grants = compute_grants(manifest, pkg::testing::sample_standard());
  ASSERT_EQ(grants.endpoints.size(), 1u);
  EXPECT_EQ(grants.endpoints[0].text(), "api.agency.example:443");
  EXPECT_NE(grants.endpoint_for("API.agency.example", 443), nullptr);
  EXPECT_EQ(grants.endpoint_for("api.agency.example", 80), nullptr);
  EXPECT_EQ(grants.endpoint_for("evil.example", 443), nullptr);
  EXPECT_TRUE(grants.has(pkg::Capability::kNotifications));
  EXPECT_FALSE(grants.has(pkg::Capability::kCamera));
  // A category without network gets no endpoints at all.
  manifest.category = pkg::AppCategory::kUtility;
  EXPECT_TRUE(compute_grants(manifest, pkg::testing::sample_standard()).endpoints.empty());
  // A category the standard does not publish gets nothing.
  manifest.category = pkg::AppCategory::kMedia;
  Grants none = compute_grants(manifest, pkg::testing::sample_standard());
  EXPECT_TRUE(none.endpoints.empty());
  EXPECT_TRUE(none.capabilities.empty());
}

}  // namespace
}  // namespace pmos::device

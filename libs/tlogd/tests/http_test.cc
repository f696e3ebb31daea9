// The log's HTTP interface over real TLS 1.3 on 127.0.0.1, read through
// LogClient as a verifier would.
#include <gtest/gtest.h>

#include <filesystem>

#include "pmos/tlog/entry_bundle.h"
#include "pmos/tlog/proof.h"
#include "pmos/tlogd/client.h"
#include "pmos/tlogd/http.h"
#include "pmos/tlogd/log.h"
#include "store_fixture.h"
#include "test_pki.h"

namespace pmos::tlogd {
namespace {

using net::testing::pki;
using store::last_error_detail;

constexpr std::string_view kOrigin = "log.test.example/http";
constexpr std::string_view kToken = "0123456789abcdef-test-token";

class HttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "pmos-tlogd-http.XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    directory_ = pattern;
    store::DatabaseConfig config;
    config.location = (directory_ / "log.db").string();
    ASSERT_OK_AND_ASSIGN(database_, store::Database::create(config));
    auto key = tlog::Ed25519NoteSigner::generate(kOrigin);
    ASSERT_TRUE(key.has_value());
    ASSERT_OK_AND_ASSIGN(log_, Log::open(*database_, std::move(*key)));
    net::Router router;
    ASSERT_OK(add_http_routes(router, *log_, HttpOptions{.add_token = std::string(kToken)}));
    server_ = net::testing::start_server(std::move(router));
    ASSERT_OK_AND_ASSIGN(http_, net::HttpsClient::connect(pki().client_tls(nullptr), "127.0.0.1",
                                                          server_->port(), std::chrono::seconds(5)));
    ASSERT_OK_AND_ASSIGN(client_, LogClient::connect(pki().client_tls(nullptr),
                                                     LogUrl{"127.0.0.1", server_->port(), ""}));
  }
  void TearDown() override {
    client_.reset();
    http_.reset();
    if (server_) server_->shutdown(std::chrono::seconds(5));
    server_.reset();
    log_.reset();
    database_.reset();
    std::filesystem::remove_all(directory_);
  }

  net::Response get(const std::string& target) {
    auto response = http_->request(net::Method::kGet, target);
    EXPECT_TRUE(response.has_value()) << response.error().to_string();
    return response ? std::move(*response) : net::Response{};
  }

  void add_entries(std::uint64_t count) {
    for (std::uint64_t i = 0; i < count; ++i) {
      auto index = client_->add(to_bytes("http entry " + std::to_string(next_)), kToken);
      ASSERT_TRUE(index.has_value()) << index.error().to_string();
      ASSERT_EQ(*index, next_++);
    }
  }

  std::filesystem::path directory_;
  std::unique_ptr<store::Database> database_;
  std::unique_ptr<Log> log_;
  std::unique_ptr<net::Server> server_;
  std::unique_ptr<net::HttpsClient> http_;
  std::unique_ptr<LogClient> client_;
  std::uint64_t next_ = 0;
};

TEST_F(HttpTest, CheckpointIsTheSignedNoteWithAShortCacheLifetime) {
  net::Response response = get("/checkpoint");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(response.header("cache-control"), kCheckpointCacheControl);
  EXPECT_EQ(response.body, log_->checkpoint().note);
  auto opened = client_->fetch_checkpoint(log_->verifier());
  ASSERT_TRUE(opened.has_value()) << opened.error().to_string();
  EXPECT_EQ(opened->checkpoint.size, 0u);
}

TEST_F(HttpTest, AddRequiresTheBearerToken) {
  auto post = [&](net::Headers headers, std::string body) {
    auto response = http_->request(net::Method::kPost, "/add", std::move(body), std::move(headers));
    EXPECT_TRUE(response.has_value());
    return response ? response->status : 0;
  };
  EXPECT_EQ(post({}, "entry"), 401);
  EXPECT_EQ(post({{"authorization", "Bearer wrong"}}, "entry"), 401);
  EXPECT_EQ(post({{"authorization", "Bearer " + std::string(kToken) + "x"}}, "entry"), 401);
  EXPECT_EQ(post({{"authorization", "Bearer " + std::string(kToken)}}, ""), 400);
  EXPECT_EQ(log_->append(to_bytes("direct")).value(), 0u);  // nothing above was appended
  ++next_;
  add_entries(2);
  // An entry that cannot fit an entry bundle is refused before it is read.
  auto big = http_->request(net::Method::kPost, "/add", std::string(tlog::kMaxEntrySize + 1, 'x'),
                            {{"authorization", "Bearer " + std::string(kToken)}});
  // The server may answer 413 and close before the client has sent the
  // whole body, which the client then sees as a reset: either way it must
  // not have been appended.
  if (big.has_value()) {
    EXPECT_EQ(big->status, 413);
  }
  EXPECT_EQ(log_->append(to_bytes("after")).value(), next_);
}

TEST_F(HttpTest, TilesAndBundlesFollowTlogTiles) {
  add_entries(300);
  ASSERT_OK(log_->integrate());

  net::Response full = get("/tile/0/000");
  EXPECT_EQ(full.status, 200);
  EXPECT_EQ(full.content_type, "application/octet-stream");
  EXPECT_EQ(full.header("cache-control"), kImmutableCacheControl);
  EXPECT_EQ(to_bytes(full.body), log_->read_tile({0, 0, 256}).value());

  net::Response partial = get("/tile/0/001.p/44");
  EXPECT_EQ(partial.status, 200);
  EXPECT_EQ(partial.header("cache-control"), kPartialCacheControl);
  EXPECT_EQ(partial.body.size(), 44u * 32);

  net::Response level1 = get("/tile/1/000.p/1");
  EXPECT_EQ(level1.status, 200);
  EXPECT_EQ(level1.body.size(), 32u);

  net::Response bundle = get("/tile/entries/001.p/44");
  EXPECT_EQ(bundle.status, 200);
  auto entries = tlog::decode_entry_bundle(as_bytes(bundle.body), 44);
  ASSERT_TRUE(entries.has_value());
  EXPECT_EQ(entries->front(), to_bytes("http entry 256"));
  EXPECT_EQ(get("/tile/entries/000").header("cache-control"), kImmutableCacheControl);

  // Not (yet) in the tree, or not the one canonical spelling: 404.
  for (const char* path : {"/tile/0/001", "/tile/0/001.p/45", "/tile/entries/001", "/tile/0/0000",
                           "/tile/0/00", "/tile/0/x000/000", "/tile/00/000", "/tile/0/001.p/044",
                           "/tile/0/001.p/256", "/tile/0/000.p/0", "/tile/64/000.p/1", "/tile/2/000.p/1",
                           "/tile/0/x001/x002/x003/x004/x005/x006/x007/000"}) {
    EXPECT_EQ(get(path).status, 404) << path;
  }
}

TEST_F(HttpTest, AVerifierProvesInclusionAndConsistencyFromServedTiles) {
  add_entries(17);
  ASSERT_OK(log_->integrate());
  auto first = client_->fetch_checkpoint(log_->verifier());
  ASSERT_TRUE(first.has_value());
  add_entries(260);
  ASSERT_OK(log_->integrate());
  auto second = client_->fetch_checkpoint(log_->verifier());
  ASSERT_TRUE(second.has_value());
  const auto& old_cp = first->checkpoint;
  const auto& new_cp = second->checkpoint;
  ASSERT_EQ(new_cp.size, 277u);

  ASSERT_OK_AND_ASSIGN(auto consistency, client_->consistency_proof(old_cp.size, new_cp.size));
  EXPECT_TRUE(tlog::verify_consistency(old_cp.size, new_cp.size, old_cp.root, new_cp.root, consistency).has_value());
  for (std::uint64_t index : {0ull, 16ull, 255ull, 256ull, 276ull}) {
    ASSERT_OK_AND_ASSIGN(Bytes entry, client_->fetch_entry(index, new_cp.size));
    EXPECT_EQ(entry, to_bytes("http entry " + std::to_string(index)));
    ASSERT_OK_AND_ASSIGN(auto proof, client_->inclusion_proof(index, new_cp.size));
    EXPECT_TRUE(tlog::verify_inclusion(index, new_cp.size, tlog::leaf_hash(entry), proof, new_cp.root).has_value())
        << index;
  }
  // Old partial tiles are still served (tlog-tiles: for every published
  // size), so a verifier at the old checkpoint still gets its proofs.
  ASSERT_OK_AND_ASSIGN(auto old_proof, client_->inclusion_proof(3, old_cp.size));
  EXPECT_TRUE(tlog::verify_inclusion(3, old_cp.size, tlog::leaf_hash(to_bytes("http entry 3")), old_proof,
                                     old_cp.root).has_value());
}

TEST(LogUrlTest, ParsesHostPortAndPrefix) {
  auto url = parse_log_url("https://127.0.0.1:8443/logs/a/");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 8443);
  EXPECT_EQ(url->prefix, "/logs/a");
  url = parse_log_url("https://log.example");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(url->prefix, "");
  EXPECT_FALSE(parse_log_url("http://log.example").has_value());
  EXPECT_FALSE(parse_log_url("https://log.example:0").has_value());
  EXPECT_FALSE(parse_log_url("https://log.example:99999").has_value());
  EXPECT_FALSE(parse_log_url("https://:80").has_value());
}

}  // namespace
}  // namespace pmos::tlogd

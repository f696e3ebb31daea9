// The witness (tlog-witness v1.0.0 add-checkpoint) on both store back ends,
// the log submitting to it, a forked log being refused, and the same over
// real HTTPS on 127.0.0.1.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "pmos/base/file.h"
#include "pmos/tlogd/key_files.h"

#include "pmos/tlog/proof.h"
#include "pmos/tlog/witness.h"
#include "pmos/tlogd/http.h"
#include "pmos/tlogd/log.h"
#include "pmos/tlogd/witness.h"
#include "pmos/tlogd/witness_client.h"
#include "store_fixture.h"
#include "test_pki.h"

namespace pmos::tlogd {
namespace {

using store::last_error_detail;
using store::testing::StoreTest;

constexpr std::string_view kOrigin = "log.test.example/witnessed";
constexpr std::string_view kWitnessName = "witness.test.example/w1";

// A log in a SQLite file of its own (the witness gets the parameterized
// back end: a log and a witness keep separate schema histories, so they
// never share a database).
struct TestLog {
  std::unique_ptr<store::Database> database;
  std::unique_ptr<Log> log;
};

class WitnessTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    std::string pattern = (std::filesystem::temp_directory_path() / "pmos-tlogd-witness.XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    logs_directory_ = pattern;
    skey_ = std::string(as_string(tlog::Ed25519NoteSigner::generate(kOrigin).value().skey().view()));
    open_witness();
  }
  void TearDown() override {
    witness_.reset();
    witness_database_.reset();
    std::filesystem::remove_all(logs_directory_);
    StoreTest::TearDown();
  }

  tlog::Ed25519NoteSigner log_key() const { return tlog::Ed25519NoteSigner::from_skey(skey_).value(); }
  tlog::CosignatureSigner witness_key() const {
    return tlog::CosignatureSigner::from_seed(kWitnessName, Bytes(32, 7)).value();
  }

  void open_witness() {
    witness_.reset();
    witness_database_.reset();
    ASSERT_OK_AND_ASSIGN(witness_database_, store::Database::create(database_config()));
    ASSERT_OK_AND_ASSIGN(witness_, Witness::open(*witness_database_, witness_key(), {log_key().verifier()}));
  }

  // A log named `name` (its database file) with `entries` entries whose
  // text starts with `prefix`, integrated.
  TestLog make_log(const std::string& name, const std::string& prefix, std::uint64_t entries, LogConfig config = {}) {
    TestLog out;
    store::DatabaseConfig database_config;
    database_config.location = (logs_directory_ / (name + ".db")).string();
    out.database = store::Database::create(database_config).value();
    out.log = Log::open(*out.database, log_key(), std::move(config)).value();
    append(out, prefix, 0, entries);
    return out;
  }
  static void append(TestLog& log, const std::string& prefix, std::uint64_t from, std::uint64_t to) {
    for (std::uint64_t i = from; i < to; ++i) EXPECT_TRUE(log.log->append(to_bytes(prefix + std::to_string(i))).has_value());
    EXPECT_TRUE(log.log->integrate_all().has_value());
  }

  // The add-checkpoint body for the log's latest checkpoint from `old_size`.
  static std::string request(const TestLog& log, std::uint64_t old_size) {
    tlog::AddCheckpointRequest request{old_size, consistency(log, old_size), log.log->latest_signed().note};
    return tlog::format_add_checkpoint_request(request).value();
  }
  static std::vector<tlog::Hash> consistency(const TestLog& log, std::uint64_t old_size) {
    // The proof from the tiles, as any client of the log would compute it.
    class Tiles final : public tlog::TileReader {
     public:
      explicit Tiles(const Log& l) : log_(l) {}
      ErrorOr<std::vector<Bytes>> read_tiles(std::span<const tlog::TileId> tiles) const override {
        std::vector<Bytes> out;
        for (const tlog::TileId& tile : tiles) out.push_back(TRY(log_.read_tile(tile)));
        return out;
      }

     private:
      const Log& log_;
    } tiles(*log.log);
    tlog::TileHashReader reader(tiles, log.log->size());
    return tlog::consistency_proof(reader, old_size, log.log->size()).value();
  }

  tlog::WitnessPolicy policy() const {
    std::vector<tlog::CosignatureVerifier> witnesses{witness_key().verifier()};
    return tlog::WitnessPolicy::create(std::move(witnesses), 1).value();
  }

  std::filesystem::path logs_directory_;
  std::string skey_;
  std::unique_ptr<store::Database> witness_database_;
  std::unique_ptr<Witness> witness_;
};

TEST_P(WitnessTest, CosignsAFirstCheckpointAndRemembersIt) {
  TestLog log = make_log("a", "a", 5);
  WitnessAnswer answer = witness_->add_checkpoint(request(log, 0));
  ASSERT_EQ(answer.status, 200) << answer.body;
  // The log's note plus the witness's line verifies under the policy.
  const std::string cosigned = log.log->latest_signed().note + answer.body;
  auto opened = tlog::open_witnessed_checkpoint(cosigned, kOrigin, log_key().verifier(), policy());
  ASSERT_TRUE(opened.has_value()) << opened.error().to_string();
  EXPECT_EQ(opened->checkpoint.size, 5u);
  ASSERT_EQ(opened->cosignatures.size(), 1u);
  EXPECT_EQ(opened->cosignatures[0].witness, kWitnessName);
  ASSERT_OK_AND_ASSIGN(auto latest, witness_->latest(kOrigin));
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(*latest, log.log->latest_signed().note);
}

TEST_P(WitnessTest, ALogKeyListedTwiceStillVerifies) {
  witness_.reset();
  ASSERT_OK_AND_ASSIGN(witness_, Witness::open(*witness_database_, witness_key(),
                                               {log_key().verifier(), log_key().verifier()}));
  TestLog log = make_log("a", "a", 3);
  EXPECT_EQ(witness_->add_checkpoint(request(log, 0)).status, 200);
}

TEST_P(WitnessTest, WrongOldSizeIs409WithTheKnownSizeAcrossARestart) {
  TestLog log = make_log("a", "a", 5);
  ASSERT_EQ(witness_->add_checkpoint(request(log, 0)).status, 200);
  append(log, "a", 5, 9);
  open_witness();  // the state is durable
  WitnessAnswer answer = witness_->add_checkpoint(request(log, 0));
  EXPECT_EQ(answer.status, 409);
  EXPECT_EQ(answer.content_type, "text/x.tlog.size");
  EXPECT_EQ(answer.body, "5\n");
  answer = witness_->add_checkpoint(request(log, 3));
  EXPECT_EQ(answer.status, 409);
  EXPECT_EQ(answer.body, "5\n");
  // With the right old size and proof it moves on.
  answer = witness_->add_checkpoint(request(log, 5));
  EXPECT_EQ(answer.status, 200) << answer.body;
  // The same checkpoint again (old size = its size, empty proof) is fine.
  answer = witness_->add_checkpoint(request(log, 9));
  EXPECT_EQ(answer.status, 200) << answer.body;
}

TEST_P(WitnessTest, RefusalsFollowTheSpec) {
  TestLog log = make_log("a", "a", 5);
  // Unknown origin: 404.
  auto other = tlog::Ed25519NoteSigner::generate("other.example/log").value();
  tlog::Checkpoint foreign{"other.example/log", 0, tlog::empty_tree_hash(), {}};
  std::string foreign_note = tlog::sign_checkpoint(foreign, other).value();
  EXPECT_EQ(witness_->add_checkpoint("old 0\n\n" + foreign_note).status, 404);
  // Right origin, a key the witness does not trust: 403.
  auto impostor = tlog::Ed25519NoteSigner::generate(kOrigin).value();
  tlog::Checkpoint checkpoint = log.log->latest_signed().checkpoint;
  EXPECT_EQ(witness_->add_checkpoint("old 0\n\n" + tlog::sign_checkpoint(checkpoint, impostor).value()).status, 403);
  // Old size above the checkpoint's: 400. Malformed: 400.
  EXPECT_EQ(witness_->add_checkpoint(request(log, 0).replace(0, 5, "old 6")).status, 400);
  EXPECT_EQ(witness_->add_checkpoint("old 0\n").status, 400);
  EXPECT_EQ(witness_->add_checkpoint("old 0\n\nnot a note\n").status, 400);
  // A proof from size 0 must be empty: 422.
  tlog::AddCheckpointRequest with_proof{0, {tlog::Hash{}}, log.log->latest_signed().note};
  EXPECT_EQ(witness_->add_checkpoint(tlog::format_add_checkpoint_request(with_proof).value()).status, 422);
  // None of these changed the state.
  ASSERT_OK_AND_ASSIGN(auto latest, witness_->latest(kOrigin));
  EXPECT_FALSE(latest.has_value());
  // A tampered proof: 422, state unchanged.
  ASSERT_EQ(witness_->add_checkpoint(request(log, 0)).status, 200);
  append(log, "a", 5, 12);
  tlog::AddCheckpointRequest tampered{5, consistency(*&log, 5), log.log->latest_signed().note};
  ASSERT_FALSE(tampered.proof.empty());
  tampered.proof[0][0] ^= 1;
  EXPECT_EQ(witness_->add_checkpoint(tlog::format_add_checkpoint_request(tampered).value()).status, 422);
  EXPECT_EQ(witness_->add_checkpoint(request(log, 0)).body, "5\n");
}

TEST_P(WitnessTest, AForkedLogIsRefused) {
  // Two logs under the same key that agree on nothing: the second is the
  // fork a compromised log key would produce to show some clients a
  // different history.
  TestLog honest = make_log("honest", "honest ", 5);
  TestLog fork = make_log("fork", "forged ", 5);
  ASSERT_EQ(witness_->add_checkpoint(request(honest, 0)).status, 200);
  // Same size, other root: 409 without a size.
  WitnessAnswer answer = witness_->add_checkpoint(request(fork, 5));
  EXPECT_EQ(answer.status, 409);
  EXPECT_EQ(answer.body, "");
  // Larger, with the fork's own (internally valid) proof: 422.
  append(fork, "forged ", 5, 9);
  answer = witness_->add_checkpoint(request(fork, 5));
  EXPECT_EQ(answer.status, 422);
  // The honest log still extends what the witness saw.
  append(honest, "honest ", 5, 9);
  EXPECT_EQ(witness_->add_checkpoint(request(honest, 5)).status, 200);
}

TEST_P(WitnessTest, LogServesCheckpointsWithTheCosignature) {
  LocalWitness local(*witness_);
  LogConfig config;
  config.witnesses = {std::shared_ptr<CheckpointWitness>(&local, [](CheckpointWitness*) {})};
  config.witness_quorum = 1;
  TestLog log = make_log("a", "a", 7, config);
  // Integrated, but not served before the quorum cosigned it.
  EXPECT_EQ(log.log->size(), 7u);
  EXPECT_EQ(log.log->checkpoint().checkpoint.size, 0u);
  ASSERT_OK_AND_ASSIGN(auto count, log.log->collect_cosignatures());
  EXPECT_EQ(count, 1u);
  PublishedCheckpoint published = log.log->checkpoint();
  EXPECT_EQ(published.checkpoint.size, 7u);
  EXPECT_EQ(published.cosignatures, 1u);
  auto opened = tlog::open_witnessed_checkpoint(published.note, kOrigin, log_key().verifier(), policy());
  ASSERT_TRUE(opened.has_value()) << opened.error().to_string();

  // A restarted log serves the stored cosigned checkpoint at once, and a
  // log that has forgotten the witness's size learns it from the 409.
  log.log.reset();
  log.log = Log::open(*log.database, log_key(), config).value();
  EXPECT_EQ(log.log->checkpoint().note, published.note);
  append(log, "a", 7, 20);
  ASSERT_OK_AND_ASSIGN(count, log.log->collect_cosignatures());
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(log.log->checkpoint().checkpoint.size, 20u);
}

TEST_P(WitnessTest, ForkedLogGetsNoCosignatureAndPublishesNothing) {
  LocalWitness local(*witness_);
  LogConfig config;
  config.witnesses = {std::shared_ptr<CheckpointWitness>(&local, [](CheckpointWitness*) {})};
  config.witness_quorum = 1;
  TestLog honest = make_log("honest", "honest ", 5, config);
  ASSERT_OK_AND_ASSIGN(auto count, honest.log->collect_cosignatures());
  ASSERT_EQ(count, 1u);
  TestLog fork = make_log("fork", "forged ", 9, config);
  std::vector<Error> errors;
  ASSERT_OK_AND_ASSIGN(count, fork.log->collect_cosignatures(
                                  [&](std::string_view, const Error& error) { errors.push_back(error); }));
  EXPECT_EQ(count, 0u);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].category(), ErrorCategory::kCrypto) << errors[0].to_string();
  EXPECT_EQ(fork.log->checkpoint().checkpoint.size, 0u);  // still only the empty tree
}

TEST_P(WitnessTest, QuorumAboveTheWitnessesIsRefused) {
  LogConfig config;
  config.witness_quorum = 1;
  store::DatabaseConfig database_config;
  database_config.location = (logs_directory_ / "q.db").string();
  auto database = store::Database::create(database_config).value();
  EXPECT_FALSE(Log::open(*database, log_key(), config).has_value());
}

TEST_P(WitnessTest, ConcurrentSubmissionsCosignOnceAndNeverRollBack) {
  // The race the spec warns about: checking the old size and storing the
  // new checkpoint must be one step, or a slower request could roll the
  // stored size back.
  TestLog log = make_log("a", "a", 5);
  const std::string small = request(log, 0);
  append(log, "a", 5, 9);
  const std::string large = request(log, 0);
  std::atomic<int> cosigned{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      if (witness_->add_checkpoint(t % 2 == 0 ? small : large).status == 200) ++cosigned;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(cosigned.load(), 1);  // every request claimed old size 0
  ASSERT_OK_AND_ASSIGN(auto latest, witness_->latest(kOrigin));
  ASSERT_TRUE(latest.has_value());
  const std::string stored_size = witness_->add_checkpoint(request(log, 1)).body;
  EXPECT_TRUE(stored_size == "5\n" || stored_size == "9\n") << stored_size;
}

PMOS_STORE_BACKENDS(WitnessTest);

TEST(KeyFilesTest, CreatedOnceThenReadBack) {
  std::string pattern = (std::filesystem::temp_directory_path() / "pmos-tlogd-keys.XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  {
    auto first = load_or_create_log_key(pattern, "keys.example/log");
    ASSERT_TRUE(first.has_value()) << first.error().to_string();
    EXPECT_TRUE(first->created);
    auto again = load_or_create_log_key(pattern, "another.example/log");
    ASSERT_TRUE(again.has_value());
    EXPECT_FALSE(again->created);
    EXPECT_EQ(again->key.verifier().vkey(), first->key.verifier().vkey());  // the name on disk wins
    EXPECT_EQ(read_file(pattern + "/log.vkey").value(), to_bytes(first->key.verifier().vkey() + "\n"));

    auto witness = load_or_create_witness_key(pattern, "keys.example/w");
    ASSERT_TRUE(witness.has_value());
    auto witness_again = load_or_create_witness_key(pattern, "ignored.example/w");
    ASSERT_TRUE(witness_again.has_value());
    EXPECT_EQ(witness_again->key.verifier().vkey(), witness->key.verifier().vkey());
    EXPECT_EQ(witness->key.name(), "keys.example/w");
    // A damaged seed file is refused, not replaced.
    ASSERT_TRUE(write_file_atomic(pattern + "/witness.key", to_bytes("short"), 0600).has_value());
    EXPECT_FALSE(load_or_create_witness_key(pattern, "keys.example/w").has_value());

    auto keys = parse_log_vkeys(first->key.verifier().vkey() + "," + first->key.verifier().vkey() + "\n");
    ASSERT_TRUE(keys.has_value());
    EXPECT_EQ(keys->size(), 2u);
    EXPECT_FALSE(parse_log_vkeys("").has_value());
    EXPECT_FALSE(parse_log_vkeys("not+a+key").has_value());
    EXPECT_FALSE(parse_log_vkeys(witness->key.verifier().vkey()).has_value());  // a cosignature key
  }
  std::filesystem::remove_all(pattern);
}

// The same protocol over HTTPS: the witness's routes and HttpWitness.
TEST(WitnessHttpTest, AddCheckpointOverHttps) {
  std::string pattern = (std::filesystem::temp_directory_path() / "pmos-tlogd-witness-http.XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  const std::filesystem::path directory = pattern;
  auto log_key = tlog::Ed25519NoteSigner::generate(kOrigin).value();
  const tlog::Ed25519NoteVerifier log_verifier = log_key.verifier();
  auto witness_key = tlog::CosignatureSigner::generate(kWitnessName).value();
  const tlog::CosignatureVerifier witness_verifier = witness_key.verifier();
  {
    store::DatabaseConfig witness_config;
    witness_config.location = (directory / "witness.db").string();
    ASSERT_OK_AND_ASSIGN(auto witness_database, store::Database::create(witness_config));
    ASSERT_OK_AND_ASSIGN(auto witness, Witness::open(*witness_database, std::move(witness_key), {log_verifier}));
    net::Router router;
    ASSERT_OK(add_witness_routes(router, *witness));
    auto server = net::testing::start_server(std::move(router));

    auto http = HttpWitness::create(witness_verifier, "https://127.0.0.1:" + std::to_string(server->port()),
                                    net::testing::pki().client_tls(nullptr));
    ASSERT_TRUE(http.has_value());
    LogConfig config;
    config.witnesses = {std::shared_ptr<CheckpointWitness>(std::move(*http))};
    config.witness_quorum = 1;
    store::DatabaseConfig log_config;
    log_config.location = (directory / "log.db").string();
    ASSERT_OK_AND_ASSIGN(auto log_database, store::Database::create(log_config));
    ASSERT_OK_AND_ASSIGN(auto log, Log::open(*log_database, std::move(log_key), config));
    for (int i = 0; i < 300; ++i) ASSERT_TRUE(log->append(to_bytes("entry " + std::to_string(i))).has_value());
    ASSERT_OK(log->integrate_all());
    ASSERT_OK_AND_ASSIGN(auto count, log->collect_cosignatures());
    EXPECT_EQ(count, 1u);
    std::vector<tlog::CosignatureVerifier> witnesses{witness_verifier};
    auto policy = tlog::WitnessPolicy::create(std::move(witnesses), 1).value();
    auto opened = tlog::open_witnessed_checkpoint(log->checkpoint().note, kOrigin, log_verifier, policy);
    ASSERT_TRUE(opened.has_value()) << opened.error().to_string();
    EXPECT_EQ(opened->checkpoint.size, 300u);

    // The raw answers: a 409 carries the size as text/x.tlog.size.
    ASSERT_OK_AND_ASSIGN(auto client, net::HttpsClient::connect(net::testing::pki().client_tls(nullptr), "127.0.0.1",
                                                                server->port(), std::chrono::seconds(5)));
    ASSERT_OK_AND_ASSIGN(auto response, client->request(net::Method::kPost, "/add-checkpoint",
                                                        "old 0\n\n" + log->latest_signed().note));
    EXPECT_EQ(response.status, 409);
    EXPECT_EQ(response.content_type, "text/x.tlog.size");
    EXPECT_EQ(response.body, "300\n");
    ASSERT_OK_AND_ASSIGN(response, client->request(net::Method::kPost, "/add-checkpoint", "garbage"));
    EXPECT_EQ(response.status, 400);
    server->shutdown(std::chrono::seconds(5));
  }
  std::filesystem::remove_all(directory);
}

TEST(WitnessReplyTest, InterpretsEveryStatus) {
  EXPECT_EQ(interpret_witness_answer(409, "text/x.tlog.size", "12\n").value().conflict_size, 12u);
  EXPECT_EQ(interpret_witness_answer(409, "text/plain", "").error().category(), ErrorCategory::kCrypto);
  EXPECT_EQ(interpret_witness_answer(422, "text/plain", "").error().category(), ErrorCategory::kCrypto);
  EXPECT_EQ(interpret_witness_answer(403, "text/plain", "").error().category(), ErrorCategory::kCrypto);
  EXPECT_EQ(interpret_witness_answer(404, "text/plain", "").error().category(), ErrorCategory::kNotFound);
  EXPECT_FALSE(interpret_witness_answer(200, "text/plain", "").has_value());
  EXPECT_FALSE(interpret_witness_answer(200, "text/plain", "not a signature line\n").has_value());
  EXPECT_FALSE(interpret_witness_answer(409, "text/x.tlog.size", "012\n").has_value());
  EXPECT_FALSE(interpret_witness_answer(500, "text/plain", "").has_value());
}

TEST(WitnessSpecTest, ParsesVkeyAtUrl) {
  auto key = tlog::CosignatureSigner::generate("w.example/1").value().verifier();
  auto spec = parse_witness_spec(key.vkey() + "@https://127.0.0.1:9000/w");
  ASSERT_TRUE(spec.has_value());
  EXPECT_EQ(spec->url, "https://127.0.0.1:9000/w");
  EXPECT_EQ(spec->key.key_id(), key.key_id());
  EXPECT_FALSE(parse_witness_spec(key.vkey()).has_value());
  EXPECT_FALSE(parse_witness_spec("junk@https://127.0.0.1:1").has_value());
}

}  // namespace
}  // namespace pmos::tlogd

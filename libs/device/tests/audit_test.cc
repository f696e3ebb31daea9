#include "pmos/device/audit.h"

#include <sys/stat.h>

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "pmos/base/codec.h"
#include "pmos/base/file.h"
#include "pmos/crypto/signature.h"
#include "test_util.h"

namespace pmos::device {
namespace {

using pkg::testing::TempDir;

std::uint64_t fixed_clock() { return 1'790'000'000'000; }

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = pkg::testing::new_key();
    auto log = AuditLog::open(log_path(), head_path(), key_, fixed_clock);
    ASSERT_TRUE(log.has_value()) << log.error().to_string();
    for (int i = 0; i < 5; ++i)
      ASSERT_TRUE((*log)->append(AuditEvent::kConnection, "org.agency.notes", "entry " + std::to_string(i)));
    log_bytes_ = read_file(log_path()).value();
    head_bytes_ = read_file(head_path()).value();
    entries_ = decode_audit_log(log_bytes_).value();
  }

  std::string log_path() const { return (dir_.path() / "audit.log").string(); }
  std::string head_path() const { return (dir_.path() / "audit.head").string(); }

  static Bytes encode_all(const std::vector<AuditEntry>& entries) {
    Bytes out;
    for (const AuditEntry& e : entries) append(out, encode_audit_record(e));
    return out;
  }

  // The verdict on `log` with the genuine head, and the entry blamed.
  std::pair<ErrorOr<AuditSummary>, AuditProblem> check(BytesView log) const {
    AuditProblem problem{Error::internal(""), std::nullopt};
    auto result = verify_audit(log, head_bytes_, key_.public_key(), &problem);
    return {std::move(result), problem};
  }

  TempDir dir_;
  crypto::PrivateKey key_;
  Bytes log_bytes_, head_bytes_;
  std::vector<AuditEntry> entries_;
};

TEST_F(AuditTest, AGoodLogVerifies) {
  auto result = verify_audit(log_bytes_, head_bytes_, key_.public_key());
  ASSERT_TRUE(result.has_value()) << result.error().to_string();
  EXPECT_EQ(result->entries, 5u);
  EXPECT_EQ(result->unsigned_by_head, 0u);
  ASSERT_EQ(entries_.size(), 5u);
  EXPECT_EQ(entries_[3].body.sequence, 3u);
  EXPECT_EQ(entries_[3].body.detail, "entry 3");
  EXPECT_EQ(entries_[3].body.time_ms, fixed_clock());
  EXPECT_EQ(entries_[0].body.previous, AuditHash{});
  EXPECT_EQ(entries_[1].body.previous, entry_hash(entries_[0]));
  struct stat st {};
  ASSERT_EQ(::stat(log_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AuditTest, ReopeningContinuesTheChain) {
  auto log = AuditLog::open(log_path(), head_path(), key_, fixed_clock);
  ASSERT_TRUE(log.has_value()) << log.error().to_string();
  EXPECT_EQ((*log)->count(), 5u);
  ASSERT_TRUE((*log)->append(AuditEvent::kExit, "org.agency.notes", "exited with code 0"));
  auto result = verify_audit(read_file(log_path()).value(), read_file(head_path()).value(), key_.public_key());
  ASSERT_TRUE(result.has_value()) << result.error().to_string();
  EXPECT_EQ(result->entries, 6u);
}

TEST_F(AuditTest, EveryFlippedByteIsDetected) {
  for (std::size_t i = 0; i < log_bytes_.size(); ++i) {
    Bytes tampered = log_bytes_;
    tampered[i] ^= 0x01;
    EXPECT_FALSE(check(tampered).first.has_value()) << "byte " << i;
  }
  for (std::size_t i = 0; i < head_bytes_.size(); ++i) {
    Bytes head = head_bytes_;
    head[i] ^= 0x01;
    EXPECT_FALSE(verify_audit(log_bytes_, head, key_.public_key()).has_value()) << "head byte " << i;
  }
}

TEST_F(AuditTest, AlteredEntryIsBlamed) {
  std::vector<AuditEntry> entries = entries_;
  entries[2].body.detail = "entry 2, but harmless";
  auto [result, problem] = check(encode_all(entries));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(problem.entry, 2u);
  EXPECT_STREQ(problem.error.message(), "audit: entry signature does not verify (altered or inserted entry)");
}

TEST_F(AuditTest, RemovedEntryIsDetected) {
  std::vector<AuditEntry> entries = entries_;
  entries.erase(entries.begin() + 2);
  auto [result, problem] = check(encode_all(entries));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(problem.entry, 2u);
  EXPECT_STREQ(problem.error.message(),
               "audit: sequence number out of place (removed, inserted or reordered entry)");
}

TEST_F(AuditTest, ReorderedEntriesAreDetected) {
  std::vector<AuditEntry> entries = entries_;
  std::swap(entries[1], entries[3]);
  auto [result, problem] = check(encode_all(entries));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(problem.entry, 1u);
}

TEST_F(AuditTest, InsertedEntriesAreDetected) {
  // Signed by someone else.
  crypto::PrivateKey other = pkg::testing::new_key();
  AuditEntry forged = entries_[2];
  forged.body.detail = "forged";
  forged.signature = crypto::ed25519().sign(other, audit_entry_message(forged.body)).value();
  std::vector<AuditEntry> entries = entries_;
  entries.insert(entries.begin() + 2, forged);
  auto [result, problem] = check(encode_all(entries));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(problem.entry, 2u);
  // A genuine entry replayed in a second place.
  entries = entries_;
  entries.insert(entries.begin() + 4, entries_[1]);
  auto [replayed, where] = check(encode_all(entries));
  ASSERT_FALSE(replayed.has_value());
  EXPECT_EQ(where.entry, 4u);
}

TEST_F(AuditTest, CutOffTailIsDetected) {
  std::vector<AuditEntry> entries = entries_;
  entries.pop_back();
  auto [result, problem] = check(encode_all(entries));
  ASSERT_FALSE(result.has_value());
  EXPECT_STREQ(problem.error.message(), "audit: the log ends before the signed head (entries cut off the tail)");
  // A torn last record.
  Bytes torn(log_bytes_.begin(), log_bytes_.end() - 3);
  auto [torn_result, torn_problem] = check(torn);
  ASSERT_FALSE(torn_result.has_value());
  EXPECT_EQ(torn_problem.error.category(), ErrorCategory::kDecode);
  // And the writer refuses to append to either.
  ASSERT_TRUE(write_file_atomic(log_path(), encode_all(entries)));
  auto reopened = AuditLog::open(log_path(), head_path(), key_, fixed_clock);
  ASSERT_FALSE(reopened.has_value());
  EXPECT_STREQ(reopened.error().message(), "audit: the log ends before the signed head (entries cut off the tail)");
}

TEST_F(AuditTest, ATornFinalRecordIsCutAndTheCutRecorded) {
  // A crash in the middle of an append: part of a sixth record.
  Bytes torn = log_bytes_;
  Bytes record = encode_audit_record(entries_[0]);
  torn.insert(torn.end(), record.begin(), record.begin() + 20);
  ASSERT_TRUE(write_file_atomic(log_path(), torn));
  auto log = AuditLog::open(log_path(), head_path(), key_, fixed_clock);
  ASSERT_TRUE(log.has_value()) << log.error().to_string();
  EXPECT_EQ((*log)->count(), 6u);
  auto result = verify_audit(read_file(log_path()).value(), read_file(head_path()).value(), key_.public_key());
  ASSERT_TRUE(result.has_value()) << result.error().to_string();
  auto entries = decode_audit_log(read_file(log_path()).value()).value();
  EXPECT_EQ(entries.back().body.event, AuditEvent::kSystem);
  EXPECT_NE(entries.back().body.detail.find("torn final record of 20 bytes"), std::string::npos);
}

TEST_F(AuditTest, OtherTailDamageIsNotRepaired) {
  // A whole record of garbage is not a torn write: refused, file untouched.
  Bytes damaged = log_bytes_;
  append(damaged, Bytes{0x03, 0xde, 0xad, 0xbf});
  ASSERT_TRUE(write_file_atomic(log_path(), damaged));
  EXPECT_FALSE(AuditLog::open(log_path(), head_path(), key_, fixed_clock).has_value());
  EXPECT_EQ(read_file(log_path()).value(), damaged);
  // Nor is a torn record that hides a cut below the head.
  Bytes cut(log_bytes_.begin(), log_bytes_.end() - 10);
  ASSERT_TRUE(write_file_atomic(log_path(), cut));
  EXPECT_FALSE(AuditLog::open(log_path(), head_path(), key_, fixed_clock).has_value());
  EXPECT_EQ(read_file(log_path()).value(), cut);
}

TEST_F(AuditTest, ValidEntriesPastTheHeadAreAccepted) {
  // A crash between appending and rewriting the head leaves the head one
  // behind: the entries are still the device's, chained and signed.
  Bytes old_head = head_bytes_;
  auto log = AuditLog::open(log_path(), head_path(), key_, fixed_clock);
  ASSERT_TRUE(log.has_value());
  ASSERT_TRUE((*log)->append(AuditEvent::kExit, "org.agency.notes", "late"));
  auto result = verify_audit(read_file(log_path()).value(), old_head, key_.public_key());
  ASSERT_TRUE(result.has_value()) << result.error().to_string();
  EXPECT_EQ(result->unsigned_by_head, 1u);
}

TEST_F(AuditTest, AHeadUpdateCanFollowTheEntry) {
  auto log = AuditLog::open(log_path(), head_path(), key_, fixed_clock);
  ASSERT_TRUE(log.has_value());
  Bytes head_before = read_file(head_path()).value();
  // The entry is in the log at once, the head still names the one before.
  ASSERT_TRUE((*log)->append(AuditEvent::kLaunch, "org.agency.notes", "launch", AuditLog::Head::kLater));
  ASSERT_TRUE((*log)->append(AuditEvent::kExit, "org.agency.notes", "exit", AuditLog::Head::kLater));
  EXPECT_EQ(read_file(head_path()).value(), head_before);
  auto result = verify_audit(read_file(log_path()).value(), read_file(head_path()).value(), key_.public_key());
  ASSERT_TRUE(result.has_value()) << result.error().to_string();
  EXPECT_EQ(result->entries, 7u);
  EXPECT_EQ(result->unsigned_by_head, 2u);
  // Then the head vouches for both; a second update has nothing to do.
  ASSERT_TRUE((*log)->update_head());
  Bytes head_after = read_file(head_path()).value();
  EXPECT_NE(head_after, head_before);
  ASSERT_TRUE((*log)->update_head());
  EXPECT_EQ(read_file(head_path()).value(), head_after);
  result = verify_audit(read_file(log_path()).value(), head_after, key_.public_key());
  ASSERT_TRUE(result.has_value()) << result.error().to_string();
  EXPECT_EQ(result->unsigned_by_head, 0u);
  // An ordinary append brings a lagging head along too.
  ASSERT_TRUE((*log)->append(AuditEvent::kLaunch, "org.agency.notes", "launch", AuditLog::Head::kLater));
  ASSERT_TRUE((*log)->append(AuditEvent::kExit, "org.agency.notes", "exit"));
  result = verify_audit(read_file(log_path()).value(), read_file(head_path()).value(), key_.public_key());
  ASSERT_TRUE(result.has_value()) << result.error().to_string();
  EXPECT_EQ(result->entries, 9u);
  EXPECT_EQ(result->unsigned_by_head, 0u);
  // Reopened with the head behind (pmosd stopped before its update): brought up to date.
  ASSERT_TRUE((*log)->append(AuditEvent::kExit, "org.agency.notes", "last", AuditLog::Head::kLater));
  log->reset();
  auto reopened = AuditLog::open(log_path(), head_path(), key_, fixed_clock);
  ASSERT_TRUE(reopened.has_value()) << reopened.error().to_string();
  result = verify_audit(read_file(log_path()).value(), read_file(head_path()).value(), key_.public_key());
  ASSERT_TRUE(result.has_value()) << result.error().to_string();
  EXPECT_EQ(result->entries, 10u);
  EXPECT_EQ(result->unsigned_by_head, 0u);
}

// pmosd appends on its request threads while a background thread updates
// the head: the head is signed and written outside the entries' lock, so
// every head on disk must still name an entry of the log with its hash, and
// the log must verify against it at every moment.
TEST_F(AuditTest, HeadUpdatesRunBesideAppends) {
  auto log = AuditLog::open(log_path(), head_path(), key_, fixed_clock);
  ASSERT_TRUE(log.has_value());
  AuditLog& audit = **log;
  std::atomic<bool> done{false};
  std::atomic<int> head_failures{0};
  std::thread header([&] {
    while (!done) {
      if (!audit.update_head()) ++head_failures;
    }
  });
  std::vector<std::thread> appenders;
  for (int t = 0; t < 2; ++t) {
    appenders.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        auto head = i % 10 == 9 ? AuditLog::Head::kNow : AuditLog::Head::kLater;
        EXPECT_TRUE(audit.append(AuditEvent::kLaunch, "org.agency.notes", std::to_string(t) + "/" + std::to_string(i), head));
      }
    });
  }
  for (int check = 0; check < 20; ++check) {
    // The head is read first: entries only ever follow it.
    Bytes head = read_file(head_path()).value();
    auto result = verify_audit(read_file(log_path()).value(), head, key_.public_key());
    EXPECT_TRUE(result.has_value()) << result.error().to_string();
  }
  for (auto& thread : appenders) thread.join();
  done = true;
  header.join();
  EXPECT_EQ(head_failures.load(), 0);
  ASSERT_TRUE(audit.update_head());
  auto result = verify_audit(read_file(log_path()).value(), read_file(head_path()).value(), key_.public_key());
  ASSERT_TRUE(result.has_value()) << result.error().to_string();
  EXPECT_EQ(result->entries, 205u);
  EXPECT_EQ(result->unsigned_by_head, 0u);
}

TEST_F(AuditTest, AnotherDevicesKeyFails) {
  crypto::PrivateKey other = pkg::testing::new_key();
  EXPECT_FALSE(verify_audit(log_bytes_, head_bytes_, other.public_key()).has_value());
}

TEST_F(AuditTest, MissingHeadWithEntriesIsRefused) {
  ASSERT_EQ(::unlink(head_path().c_str()), 0);
  auto log = AuditLog::open(log_path(), head_path(), key_, fixed_clock);
  ASSERT_FALSE(log.has_value());
  EXPECT_STREQ(log.error().message(), "audit: the log has entries but its signed head is missing");
}

TEST(AuditDecode, IsStrict) {
  crypto::PrivateKey key = pkg::testing::new_key();
  AuditEntry entry;
  entry.body.event = AuditEvent::kLaunch;
  entry.body.app_id = "org.agency.notes";
  entry.signature = crypto::ed25519().sign(key, audit_entry_message(entry.body)).value();
  Bytes record = encode_audit_record(entry);
  ASSERT_TRUE(decode_audit_log(record).has_value());
  // Trailing garbage that is not a record.
  Bytes trailing = record;
  trailing.push_back(0x05);
  EXPECT_FALSE(decode_audit_log(trailing).has_value());
  // An unknown event value.
  AuditEntry unknown = entry;
  unknown.body.event = static_cast<AuditEvent>(42);
  EXPECT_FALSE(decode_audit_log(encode_audit_record(unknown)).has_value());
  // A short signature.
  AuditEntry short_signature = entry;
  short_signature.signature.resize(63);
  EXPECT_FALSE(decode_audit_log(encode_audit_record(short_signature)).has_value());
  // Bytes after the entry inside its record.
  Bytes inner = tls::encode(entry);
  inner.push_back(0);
  tls::Writer w;
  w.opaque(inner);
  EXPECT_FALSE(decode_audit_log(w.view()).has_value());
  // An empty log decodes to no entries.
  EXPECT_TRUE(decode_audit_log({}).value().empty());
}

TEST(DeviceKey, CreatedOnceWithTightPermissions) {
  TempDir dir;
  auto key = load_or_create_device_key(dir.path().string());
  ASSERT_TRUE(key.has_value()) << key.error().to_string();
  auto again = load_or_create_device_key(dir.path().string());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(key->public_key(), again->public_key());
  auto pub = load_device_public_key((dir.path() / "device.pub").string());
  ASSERT_TRUE(pub.has_value());
  EXPECT_EQ(*pub, key->public_key());
  ASSERT_EQ(::chmod((dir.path() / "device.key").c_str(), 0644), 0);
  EXPECT_FALSE(load_or_create_device_key(dir.path().string()).has_value());
}

}  // namespace
}  // namespace pmos::device

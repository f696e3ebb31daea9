#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/base/unique_fd.h"
#include "pmos/crypto/keys.h"
#include "pmos/crypto/signer.h"

namespace pmos::device {

// The device's audit log (docs/formats/audit.md): an append-only file of
// entries, each naming the hash of the one before it and signed by the device
// key, plus a separately stored signed head (entry count and last hash) that
// makes a cut-off tail detectable.

using AuditHash = std::array<std::uint8_t, 32>;  // SHA-256

// What happened. Wire values are fixed; append new ones.
enum class AuditEvent : std::uint8_t {
  kInstall = 1,
  kUpdate = 2,
  kRemove = 3,
  kLaunch = 4,
  kExit = 5,
  kGrant = 6,       // the broker granted a request (a notification ...)
  kDenial = 7,      // anything refused: an endpoint, a capability, an install
  kConnection = 8,  // the broker connected an app to an endpoint (or tried)
  kNotification = 9,
  kSystem = 10,  // the device's own events: pmosd start and stop, audit log repair
};
bool tls_enum_valid(AuditEvent event);
std::string_view to_string(AuditEvent event);

// The signed part of an entry.
struct AuditEntryBody {
  std::uint64_t sequence = 0;  // 0, 1, 2 ... without gaps
  std::uint64_t time_ms = 0;   // Unix time in milliseconds, as the device's clock said
  AuditEvent event = AuditEvent::kInstall;
  std::string app_id;  // empty for events about no app
  std::string detail;  // for people: what exactly, and why
  AuditHash previous{};  // entry_hash() of the previous entry; zeros for the first
  static auto tls_fields(auto& self) {
    return std::tie(self.sequence, self.time_ms, self.event, self.app_id, self.detail, self.previous);
  }
};

struct AuditEntry {
  AuditEntryBody body;
  Bytes signature;  // Ed25519 by the device key over audit_entry_message(body)
  static auto tls_fields(auto& self) { return std::tie(self.body, self.signature); }
};

// The signed statement "the log has `count` entries and the last one hashes
// to `last`", rewritten after every append.
struct AuditHead {
  std::uint64_t count = 0;
  AuditHash last{};
  Bytes signature;  // over audit_head_message(count, last)
  static auto tls_fields(auto& self) { return std::tie(self.count, self.last, self.signature); }
};

inline constexpr std::size_t kMaxAuditAppIdBytes = 128;
inline constexpr std::size_t kMaxAuditDetailBytes = 4096;

Bytes audit_entry_message(const AuditEntryBody& body);
Bytes audit_head_message(std::uint64_t count, const AuditHash& last);
// SHA-256 over a context string and the whole encoded entry, signature included.
AuditHash entry_hash(const AuditEntry& entry);

// Strict decoders. The log file is a sequence of opaque<V> records, each one
// encoded AuditEntry; a torn last record, trailing bytes, an unknown event,
// a signature that is not 64 bytes or an over-long field are kDecode errors.
ErrorOr<std::vector<AuditEntry>> decode_audit_log(BytesView file);
Bytes encode_audit_record(const AuditEntry& entry);
ErrorOr<AuditHead> decode_audit_head(BytesView file);

// Why verification failed, and at which entry (index into the log) where one
// entry is to blame.
struct AuditProblem {
  Error error;
  std::optional<std::size_t> entry;
};

// What a good log holds.
struct AuditSummary {
  std::size_t entries = 0;
  std::size_t unsigned_by_head = 0;  // valid entries after the head (a crash between the two writes)
};

// Checks every entry's signature, sequence number and link to its
// predecessor, then the head's signature and that the head's entry is present
// with the hash it names. Detects an altered, removed, inserted or reordered
// entry, and a log cut short of its head. It cannot see a log and head both
// rolled back to an older, consistent state: that needs the head checkpointed
// off the device (docs/formats/audit.md).
// Returns the summary, or the problem in `problem` and an error.
ErrorOr<AuditSummary> verify_audit(BytesView log, BytesView head, const crypto::PublicKey& device_key,
                                   AuditProblem* problem = nullptr);

// The device's signing key: STATE/device.key (a pmos-signing-key-v1 file,
// mode 0600) and STATE/device.pub, created on first use.
ErrorOr<crypto::PrivateKey> load_or_create_device_key(const std::string& state_dir);
ErrorOr<crypto::PublicKey> load_device_public_key(const std::string& path);

// The writer. open() verifies what is already there and refuses a log that
// does not verify (appending to a broken chain would launder it).
// append() is thread-safe: pmosd's broker threads and control threads share
// one log. Each append is durable (fsync) before it returns.
class AuditLog {
 public:
  // `log_path` and `head_path` are created if absent. A torn final record
  // (a write interrupted by a crash: its length header promises more bytes
  // than the file has) is cut off, and the cut recorded as a kSystem entry,
  // provided everything before it verifies; any other damage is refused. `clock_ms` gives the
  // time for entries (tests pass a fixed clock); null means the system clock.
  static ErrorOr<std::unique_ptr<AuditLog>> open(std::string log_path, std::string head_path,
                                                 crypto::PrivateKey device_key,
                                                 std::uint64_t (*clock_ms)() = nullptr);

  // When the signed head follows an append. kNow: before append() returns.
  // kLater: at the next append(kNow) or update_head(); for a caller that
  // must have the entry durable before it acts (pmosd: a launch before the
  // app starts, an exit before the run is answered) and updates the head
  // right after. The entry itself is appended and fsynced either way; an
  // entry past the head verifies on its own (as after a crash between the
  // two), only a cut of it would go unnoticed until the head moves.
  enum class Head : std::uint8_t { kNow, kLater };

  ErrorOr<void> append(AuditEvent event, std::string_view app_id, std::string_view detail, Head head = Head::kNow);
  // Brings the signed head up to the last entry (nothing to do if it is).
  ErrorOr<void> update_head();
  std::uint64_t count() const;

 private:
  AuditLog(std::string head_path, UniqueFd log_fd, crypto::Signer signer, std::uint64_t (*clock_ms)(),
           std::uint64_t count, AuditHash last);

  // The entry alone: signed, appended and fsynced; under mutex_.
  ErrorOr<void> append_entry(AuditEvent event, std::string_view app_id, std::string_view detail);
  // Signs and replaces the head file for (count, last); under head_mutex_.
  ErrorOr<void> write_head(std::uint64_t count, const AuditHash& last);

  const std::string head_path_;
  UniqueFd log_fd_;
  const crypto::Signer signer_;  // the device key, set up once: two entries per launch
  std::uint64_t (*const clock_ms_)();
  // Lock order: head_mutex_, then mutex_. The head is signed and written
  // under head_mutex_ only, so an append (a launch waiting for its entry)
  // never waits behind a head update's signature and two fsyncs.
  mutable std::mutex head_mutex_;
  mutable std::mutex mutex_;

  std::uint64_t count_;  // guarded by mutex_
  AuditHash last_;       // guarded by mutex_
  std::uint64_t head_count_;  // entries the head on disk vouches for; guarded by mutex_
};

}  // namespace pmos::device

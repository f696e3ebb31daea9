#include "pmos/device/audit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "pmos/base/codec.h"
#include "pmos/base/file.h"
#include "pmos/crypto/hash.h"
#include "pmos/crypto/signature.h"
#include "pmos/pkg/errors.h"
#include "pmos/pkg/key_file.h"

namespace pmos::device {
namespace {

constexpr std::string_view kEntryContext = "PMOS audit entry v1";
constexpr std::string_view kHeadContext = "PMOS audit head v1";
constexpr std::string_view kChainContext = "PMOS audit chain v1";
constexpr std::size_t kSignatureBytes = 64;  // Ed25519
// A log larger than this is refused by verify (and by open): rotate it first.
constexpr std::size_t kMaxLogBytes = std::size_t{1} << 30;

Bytes with_context(std::string_view context, BytesView body) {
  Bytes out = to_bytes(context);
  out.push_back(0);
  append(out, body);
  return out;
}

ErrorOr<void> validate(const AuditEntry& entry) {
  if (entry.body.app_id.size() > kMaxAuditAppIdBytes) return Error::decode("audit: app id is too long");
  if (entry.body.detail.size() > kMaxAuditDetailBytes) return Error::decode("audit: detail is too long");
  if (entry.signature.size() != kSignatureBytes) return Error::decode("audit: entry signature is not 64 bytes");
  return {};
}

std::uint64_t system_clock_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

ErrorOr<void> write_all(int fd, BytesView data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::system("write", errno);
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

// How many bytes at the end of `file` are a torn record: one whose varint
// length header is cut short, or promises more bytes than remain, after the
// last whole record. 0 when the file ends on a record boundary, or when the
// damage is anything else (which verification then reports).
std::size_t torn_tail_bytes(BytesView file) {
  tls::Reader reader(file);
  while (!reader.empty()) {
    std::size_t start = file.size() - reader.remaining();
    if (reader.opaque()) continue;
    BytesView rest = file.subspan(start);
    std::size_t header = std::size_t{1} << (rest[0] >> 6);  // 1, 2 or 4 bytes; 8 is reserved
    if (header == 8) return 0;
    if (rest.size() < header) return rest.size();
    auto length = tls::decode_varint(rest.first(header));
    if (!length) return 0;  // non-minimal: not something our writer makes
    return *length > rest.size() - header ? rest.size() : 0;
  }
  return 0;
}

}  // namespace

bool tls_enum_valid(AuditEvent event) {
  auto v = static_cast<std::uint8_t>(event);
  return v >= 1 && v <= 10;
}

std::string_view to_string(AuditEvent event) {
  switch (event) {
    case AuditEvent::kInstall: return "install";
    case AuditEvent::kUpdate: return "update";
    case AuditEvent::kRemove: return "remove";
    case AuditEvent::kLaunch: return "launch";
    case AuditEvent::kExit: return "exit";
    case AuditEvent::kGrant: return "grant";
    case AuditEvent::kDenial: return "denial";
    case AuditEvent::kConnection: return "connection";
    case AuditEvent::kNotification: return "notification";
    case AuditEvent::kSystem: return "system";
  }
  return "unknown";
}

Bytes audit_entry_message(const AuditEntryBody& body) { return with_context(kEntryContext, tls::encode(body)); }

Bytes audit_head_message(std::uint64_t count, const AuditHash& last) {
  tls::Writer w;
  w.u64(count);
  w.raw(last);
  return with_context(kHeadContext, w.view());
}

AuditHash entry_hash(const AuditEntry& entry) {
  Bytes digest = crypto::sha256().digest(with_context(kChainContext, tls::encode(entry)));
  AuditHash out{};
  std::memcpy(out.data(), digest.data(), out.size());
  return out;
}

Bytes encode_audit_record(const AuditEntry& entry) {
  tls::Writer w;
  w.opaque(tls::encode(entry));
  return std::move(w).take();
}

ErrorOr<std::vector<AuditEntry>> decode_audit_log(BytesView file) {
  std::vector<AuditEntry> entries;
  tls::Reader reader(file);
  while (!reader.empty()) {
    auto record = reader.opaque();
    if (!record) return Error::decode("audit: the last record is torn or its length is malformed");
    AuditEntry entry = TRY(tls::decode<AuditEntry>(*record));
    TRY(validate(entry));
    entries.push_back(std::move(entry));
  }
  return entries;
}

ErrorOr<AuditHead> decode_audit_head(BytesView file) {
  AuditHead head = TRY(tls::decode<AuditHead>(file));
  if (head.signature.size() != kSignatureBytes) return Error::decode("audit: head signature is not 64 bytes");
  return head;
}

ErrorOr<AuditSummary> verify_audit(BytesView log, BytesView head_bytes, const crypto::PublicKey& device_key,
                                   AuditProblem* problem) {
  auto report = [&](Error error, std::optional<std::size_t> entry) -> Error {
    if (problem) *problem = AuditProblem{error, entry};
    return error;
  };
  auto entries = decode_audit_log(log);
  if (!entries) return report(entries.error(), std::nullopt);
  auto head = decode_audit_head(head_bytes);
  if (!head) return report(head.error(), std::nullopt);

  const crypto::SignatureScheme& ed25519 = crypto::ed25519();
  AuditHash previous{};
  std::optional<AuditHash> hash_at_head;
  for (std::size_t i = 0; i < entries->size(); ++i) {
    const AuditEntry& entry = (*entries)[i];
    // Signature first: an entry that is not the device's says nothing about
    // its sequence or position, so report it as altered or inserted.
    if (!ed25519.verify(device_key, audit_entry_message(entry.body), entry.signature))
      return report(Error::crypto("audit: entry signature does not verify (altered or inserted entry)"), i);
    if (entry.body.sequence != i)
      return report(Error::crypto("audit: sequence number out of place (removed, inserted or reordered entry)"), i);
    if (entry.body.previous != previous)
      return report(Error::crypto("audit: entry does not link to the previous one (removed or reordered entry)"), i);
    previous = entry_hash(entry);
    if (i + 1 == head->count) hash_at_head = previous;
  }
  if (!ed25519.verify(device_key, audit_head_message(head->count, head->last), head->signature))
    return report(Error::crypto("audit: head signature does not verify"), std::nullopt);
  if (head->count > entries->size())
    return report(Error::crypto("audit: the log ends before the signed head (entries cut off the tail)"),
                  entries->size());
  // An empty head (count 0) names the zero hash.
  AuditHash expected = head->count == 0 ? AuditHash{} : *hash_at_head;
  if (expected != head->last)
    return report(Error::crypto("audit: the head names a different last entry (log replaced)"),
                  head->count == 0 ? std::nullopt : std::optional<std::size_t>(head->count - 1));
  return AuditSummary{entries->size(), entries->size() - head->count};
}

ErrorOr<crypto::PrivateKey> load_or_create_device_key(const std::string& state_dir) {
  std::string key_path = state_dir + "/device.key";
  std::string pub_path = state_dir + "/device.pub";
  auto fd = open_file(key_path, O_RDONLY | O_NOFOLLOW);
  if (!fd && fd.error().errno_code() == ENOENT) {
    crypto::PrivateKey key = TRY(crypto::ed25519().generate());
    std::string text = pkg::format_private_key_file(key);
    auto wrote = write_file_atomic(key_path, as_bytes(text), 0600);
    secure_zero(MutableBytesView(reinterpret_cast<std::uint8_t*>(text.data()), text.size()));
    TRY(wrote);
    TRY(write_file_atomic(pub_path, as_bytes(pkg::format_public_key_file(pkg::signer_key_of(key))), 0644));
    return key;
  }
  if (!fd) return fd.error();
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return Error::system("fstat", errno);
  // A device key others can read is no longer the device's alone: anyone who
  // read it can forge audit entries.
  if ((st.st_mode & 077) != 0) return pkg::errors::kKeyFileTooOpen;
  Bytes text = TRY(read_file(key_path, 4096));
  auto key = pkg::parse_private_key_file(as_string(text));
  secure_zero(text);
  return key;
}

ErrorOr<crypto::PublicKey> load_device_public_key(const std::string& path) {
  Bytes text = TRY(read_file(path, 4096));
  pkg::SignerKey key = TRY(pkg::parse_public_key_file(as_string(text)));
  return key.to_public_key();
}

AuditLog::AuditLog(std::string head_path, UniqueFd log_fd, crypto::Signer signer, std::uint64_t (*clock_ms)(),
                   std::uint64_t count, AuditHash last)
    : head_path_(std::move(head_path)),
      log_fd_(std::move(log_fd)),
      signer_(std::move(signer)),
      clock_ms_(clock_ms ? clock_ms : system_clock_ms),
      count_(count),
      last_(last),
      head_count_(count) {}

ErrorOr<std::unique_ptr<AuditLog>> AuditLog::open(std::string log_path, std::string head_path,
                                                 crypto::PrivateKey device_key, std::uint64_t (*clock_ms)()) {
  UniqueFd log_fd = TRY(open_file(log_path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW, 0600));
  auto head_bytes = read_file(head_path, 4096);
  Bytes existing = TRY(read_file(log_path, kMaxLogBytes));
  std::uint64_t count = 0;
  AuditHash last{};
  std::size_t torn = 0;
  if (!head_bytes && head_bytes.error().errno_code() == ENOENT) {
    // A new log: there must be nothing in it, or its head was deleted.
    if (!existing.empty()) return Error::crypto("audit: the log has entries but its signed head is missing");
  } else {
    if (!head_bytes) return head_bytes.error();
    torn = torn_tail_bytes(existing);
    existing.resize(existing.size() - torn);
    TRY(verify_audit(existing, *head_bytes, device_key.public_key()));
    // Only now that the rest verifies is the torn record dropped from disk.
    if (torn > 0 && (::ftruncate(log_fd.get(), static_cast<off_t>(existing.size())) != 0 || ::fsync(log_fd.get()) != 0))
      return Error::system("ftruncate", errno);
    auto entries = TRY(decode_audit_log(existing));
    count = entries.size();
    if (!entries.empty()) last = entry_hash(entries.back());
  }
  crypto::Signer signer = TRY(crypto::Signer::create(crypto::ed25519(), std::move(device_key)));
  auto log = std::unique_ptr<AuditLog>(
      new AuditLog(std::move(head_path), std::move(log_fd), std::move(signer), clock_ms, count, last));
  // Bring the head up to date (new log, or entries written before a crash
  // stopped the head update). Nobody else has the log yet.
  {
    std::lock_guard head_lock(log->head_mutex_);
    TRY(log->write_head(count, last));
  }
  if (torn > 0)
    TRY(log->append(AuditEvent::kSystem, "",
                    "audit log repaired: cut a torn final record of " + std::to_string(torn) +
                        " bytes (an append interrupted by a crash)"));
  return log;
}

ErrorOr<void> AuditLog::append(AuditEvent event, std::string_view app_id, std::string_view detail, Head head) {
  TRY(append_entry(event, app_id, detail));
  if (head == Head::kLater) return {};
  return update_head();  // covers this entry: it is in count_ already
}

ErrorOr<void> AuditLog::append_entry(AuditEvent event, std::string_view app_id, std::string_view detail) {
  std::lock_guard lock(mutex_);
  AuditEntry entry;
  entry.body.sequence = count_;
  entry.body.time_ms = clock_ms_();
  entry.body.event = event;
  entry.body.app_id = std::string(app_id.substr(0, kMaxAuditAppIdBytes));
  entry.body.detail = std::string(detail.substr(0, kMaxAuditDetailBytes));
  entry.body.previous = last_;
  entry.signature = TRY(signer_.sign(audit_entry_message(entry.body)));
  // One write() of the whole record on an O_APPEND descriptor: concurrent
  // readers see whole records, and a crash leaves at worst one torn record.
  TRY(write_all(log_fd_.get(), encode_audit_record(entry)));
  if (::fsync(log_fd_.get()) != 0) return Error::system("fsync", errno);
  // The entry is in the log: the chain moves on even if the head update
  // below fails (open() accepts valid entries past the head).
  last_ = entry_hash(entry);
  count_ += 1;
  return {};
}

ErrorOr<void> AuditLog::update_head() {
  std::lock_guard head_lock(head_mutex_);
  std::uint64_t count;
  AuditHash last;
  {
    std::lock_guard lock(mutex_);
    if (head_count_ == count_) return {};
    count = count_;
    last = last_;
  }
  // Appends go on meanwhile; the head vouches for the entries up to `count`,
  // and the next update covers the rest. Heads are written one at a time
  // (head_mutex_), so a newer one is never replaced by an older one.
  return write_head(count, last);
}

ErrorOr<void> AuditLog::write_head(std::uint64_t count, const AuditHash& last) {
  AuditHead head{count, last, TRY(signer_.sign(audit_head_message(count, last)))};
  TRY(write_file_atomic(head_path_, tls::encode(head), 0644));
  std::lock_guard lock(mutex_);
  head_count_ = count;
  return {};
}

std::uint64_t AuditLog::count() const {
  std::lock_guard lock(mutex_);
  return count_;
}

}  // namespace pmos::device

// Crash safety of the log (issue 7): a child process appends from several
// threads with the background integrator running, and reports through a
// pipe every index it was told is durable and every checkpoint it
// published. We SIGKILL it mid-stream. After reopening, every reported
// entry is in the log, and the new checkpoint extends every one the child
// published: the log never signed a checkpoint it could not stand by.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "pmos/tlog/proof.h"
#include "pmos/tlogd/log.h"
#include "store_fixture.h"

namespace pmos::tlogd {
namespace {

using store::last_error_detail;
using CrashTest = store::testing::StoreTest;

constexpr std::string_view kOrigin = "log.test.example/crash";
constexpr int kChildWriters = 4;
constexpr std::size_t kAcksBeforeKill = 300;
constexpr std::size_t kCheckpointsBeforeKill = 3;

// Records on the pipe, each below PIPE_BUF so that writes from several
// threads never interleave: 'A' index(8) writer(4) n(4), and
// 'C' length(4) note.
Bytes entry_for(std::uint32_t writer, std::uint32_t n) {
  return to_bytes("crash w" + std::to_string(writer) + " n" + std::to_string(n));
}

void write_all(int fd, const Bytes& record) {
  if (write(fd, record.data(), record.size()) != static_cast<ssize_t>(record.size())) _exit(4);
}

[[noreturn]] void run_child(const store::DatabaseConfig& config, const std::string& skey, int report_fd) {
  auto database = store::Database::create(config);
  if (!database) _exit(2);
  auto key = tlog::Ed25519NoteSigner::from_skey(skey);
  if (!key) _exit(2);
  LogConfig log_config;
  log_config.integrate_interval = std::chrono::milliseconds(10);
  auto log = Log::open(**database, std::move(*key), log_config);
  if (!log) _exit(2);
  (*log)->start([](const Error&) { _exit(5); });
  std::vector<std::thread> writers;
  for (std::uint32_t w = 0; w < kChildWriters; ++w) {
    writers.emplace_back([&, w] {
      for (std::uint32_t n = 0;; ++n) {
        auto index = (*log)->append(entry_for(w, n));
        if (!index) _exit(3);
        Bytes record(17);
        record[0] = 'A';
        std::memcpy(&record[1], &*index, 8);
        std::memcpy(&record[9], &w, 4);
        std::memcpy(&record[13], &n, 4);
        write_all(report_fd, record);
      }
    });
  }
  // The "publisher": whatever checkpoint() returns is what /checkpoint
  // would serve, so report each one as published.
  std::string last;
  for (;;) {
    std::string note = (*log)->checkpoint().note;
    if (note != last) {
      Bytes record{'C', 0, 0, 0, 0};
      std::uint32_t length = static_cast<std::uint32_t>(note.size());
      std::memcpy(&record[1], &length, 4);
      append(record, as_bytes(note));
      write_all(report_fd, record);
      last = std::move(note);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

bool read_exact(int fd, void* out, std::size_t size) {
  auto* bytes = static_cast<std::uint8_t*>(out);
  while (size > 0) {
    ssize_t n = read(fd, bytes, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

TEST_P(CrashTest, AckedEntriesSurviveSigkillAndCheckpointsStayConsistent) {
  auto key = tlog::Ed25519NoteSigner::generate(kOrigin);
  ASSERT_TRUE(key.has_value());
  const std::string skey(as_string(key->skey().view()));
  const auto verifier = key->verifier();
  const store::DatabaseConfig config = database_config();

  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    run_child(config, skey, fds[1]);
  }
  close(fds[1]);

  std::map<std::uint64_t, Bytes> acked;
  std::vector<tlog::Checkpoint> published;
  bool killed = false;
  for (;;) {
    if (!killed && acked.size() >= kAcksBeforeKill && published.size() >= kCheckpointsBeforeKill) {
      ASSERT_EQ(kill(child, SIGKILL), 0);
      killed = true;  // keep draining: records written before the kill count
    }
    std::uint8_t tag = 0;
    if (!read_exact(fds[0], &tag, 1)) break;
    if (tag == 'A') {
      std::uint64_t index = 0;
      std::uint32_t w = 0, n = 0;
      ASSERT_TRUE(read_exact(fds[0], &index, 8) && read_exact(fds[0], &w, 4) && read_exact(fds[0], &n, 4));
      ASSERT_TRUE(acked.emplace(index, entry_for(w, n)).second) << "index handed out twice: " << index;
    } else {
      ASSERT_EQ(tag, 'C');
      std::uint32_t length = 0;
      ASSERT_TRUE(read_exact(fds[0], &length, 4));
      std::string note(length, '\0');
      ASSERT_TRUE(read_exact(fds[0], note.data(), length));
      auto opened = tlog::open_checkpoint(note, kOrigin, verifier);
      ASSERT_TRUE(opened.has_value()) << opened.error().to_string();
      if (!published.empty()) {
        ASSERT_GT(opened->checkpoint.size, published.back().size);
      }
      published.push_back(opened->checkpoint);
    }
  }
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child exited early: " << status;

  ASSERT_OK_AND_ASSIGN(auto database, store::Database::create(config));
  ASSERT_OK_AND_ASSIGN(auto log, Log::open(*database, tlog::Ed25519NoteSigner::from_skey(skey).value()));
  const PublishedCheckpoint now = log->checkpoint();
  auto opened = tlog::open_checkpoint(now.note, kOrigin, verifier);
  ASSERT_TRUE(opened.has_value());
  const tlog::Checkpoint& current = opened->checkpoint;
  ASSERT_GE(current.size, acked.rbegin()->first + 1);
  for (const auto& [index, entry] : acked) {
    ASSERT_OK_AND_ASSIGN(Bytes stored, log->read_entry(index));
    ASSERT_EQ(stored, entry) << "acked entry " << index << " lost or changed";
  }

  // The new tree extends every checkpoint the child published.
  class Tiles final : public tlog::TileReader {
   public:
    explicit Tiles(const Log& l) : log_(l) {}
    ErrorOr<std::vector<Bytes>> read_tiles(std::span<const tlog::TileId> tiles) const override {
      std::vector<Bytes> out;
      for (const auto& tile : tiles) out.push_back(TRY(log_.read_tile(tile)));
      return out;
    }
    const Log& log_;
  } tiles(*log);
  tlog::TileHashReader reader(tiles, current.size);
  for (const tlog::Checkpoint& old : published) {
    ASSERT_OK_AND_ASSIGN(auto proof, tlog::consistency_proof(reader, old.size, current.size));
    EXPECT_TRUE(tlog::verify_consistency(old.size, current.size, old.root, current.root, proof).has_value())
        << old.size << " -> " << current.size;
  }
}

PMOS_STORE_BACKENDS(CrashTest);

}  // namespace
}  // namespace pmos::tlogd

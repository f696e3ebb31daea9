// Crash safety: a child process writes through group commit and reports each
// write it was told is durable through a pipe; we SIGKILL it mid-stream. After
// reopening, every reported write must be there (ARCHITECTURE.md, Storage: a
// message is acknowledged only after it is durable).

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "store_fixture.h"

namespace pmos::store::testing {
namespace {

using CrashTest = StoreTest;

constexpr int kChildWriters = 4;
constexpr std::size_t kAcksBeforeKill = 150;

// The child: never returns. Writes messages "w<writer>-<n>" as fast as it
// can and reports each durable one as a 4-byte record (writer << 24 | n);
// records below PIPE_BUF are written atomically.
[[noreturn]] void run_child(const RelayStoreConfig& config, int report_fd, const Bytes& group,
                            const std::vector<std::string>& senders) {
  auto store = RelayStore::create(config);
  if (!store.has_value()) _exit(2);
  std::vector<std::thread> writers;
  for (int w = 0; w < kChildWriters; ++w) {
    writers.emplace_back([&, w] {
      for (std::uint32_t n = 0;; ++n) {
        OutgoingMessage message;
        message.group_id = group;
        message.sender_device = senders[static_cast<std::size_t>(w)];
        std::uint32_t record = (static_cast<std::uint32_t>(w) << 24) | n;
        message.message_id = Bytes(reinterpret_cast<const std::uint8_t*>(&record),
                                   reinterpret_cast<const std::uint8_t*>(&record) + 4);
        message.body = message.message_id;
        auto sent = (*store)->send_message(message);
        if (!sent.has_value() || sent->status != SendStatus::kQueued) _exit(3);
        if (write(report_fd, &record, sizeof record) != sizeof record) _exit(4);
      }
    });
  }
  for (auto& writer : writers) writer.join();
  _exit(0);
}

TEST_P(CrashTest, EveryWriteReportedDurableSurvivesSigkill) {
  RelayStoreConfig config = relay_config();
  const Bytes group = to_bytes("crash");
  std::vector<std::string> devices;
  {
    ASSERT_OK_AND_ASSIGN(auto store, RelayStore::create(config));
    for (int i = 0; i <= kChildWriters; ++i) {
      devices.push_back("d" + std::to_string(i));
      ASSERT_OK(store->add_device(Device{devices.back(), "u", to_bytes(devices.back()), false}));
    }
    ASSERT_OK(store->create_group(group, devices));
  }  // closed, so this process has no threads left when it forks
  const std::string& reader = devices.back();  // receives from every writer

  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0) << std::strerror(errno);
  if (child == 0) {
    close(fds[0]);
    run_child(config, fds[1], group, devices);
  }
  close(fds[1]);

  std::set<std::uint32_t> acked;
  auto read_record = [&]() -> bool {
    std::uint32_t record;
    std::size_t have = 0;
    while (have < sizeof record) {
      ssize_t n = read(fds[0], reinterpret_cast<char*>(&record) + have, sizeof record - have);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      have += static_cast<std::size_t>(n);
    }
    acked.insert(record);
    return true;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (acked.size() < kAcksBeforeKill && std::chrono::steady_clock::now() < deadline) {
    if (!read_record()) break;
  }
  // Mid-stream: the child has writes in flight (batches open, commits
  // running) when it dies.
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child stopped by itself with status " << status;
  // Reports written before it died are still in the pipe: they count too.
  while (read_record()) {
  }
  close(fds[0]);
  ASSERT_GE(acked.size(), kAcksBeforeKill);

  ASSERT_OK_AND_ASSIGN(auto store, RelayStore::create(config));
  ASSERT_OK_AND_ASSIGN(auto queued, store->fetch(reader, 0, 1'000'000));
  std::set<std::uint32_t> present;
  std::int64_t last_seq = 0;
  for (const QueuedMessage& message : queued) {
    ASSERT_EQ(message.body.size(), 4u);
    std::uint32_t record;
    std::memcpy(&record, message.body.data(), 4);
    EXPECT_TRUE(present.insert(record).second) << "queued twice: " << record;
    EXPECT_GT(message.seq, last_seq);
    last_seq = message.seq;
  }
  std::size_t missing = 0;
  for (std::uint32_t record : acked) missing += present.count(record) == 0 ? 1 : 0;
  EXPECT_EQ(missing, 0u) << "of " << acked.size() << " acked writes";
  // The database is usable after the crash (WAL recovery on SQLite).
  OutgoingMessage after;
  after.group_id = group;
  after.sender_device = devices[0];
  after.message_id = to_bytes("after the crash");
  ASSERT_OK_AND_ASSIGN(auto sent, store->send_message(after));
  EXPECT_EQ(sent.status, SendStatus::kQueued);
}

PMOS_STORE_BACKENDS(CrashTest);

}  // namespace
}  // namespace pmos::store::testing

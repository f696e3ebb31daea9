#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "connection.h"
#include "pmos/store/database.h"

namespace pmos::store::detail {

// The writer thread of a Database: collects WriteRequests, runs a batch of
// them in one transaction, commits once (one fsync) and then completes them
// all. Why: a durable commit costs an fsync (milliseconds on real disks),
// and committing each request alone would cap the relay at that rate.
//
// Thread-safe: submit() from any thread. The destructor completes what is
// queued, then stops.
class GroupCommitter {
 public:
  GroupCommitter(std::unique_ptr<Connection> connection, GroupCommitConfig config);
  ~GroupCommitter();
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  void submit(std::unique_ptr<WriteRequest> request);

 private:
  struct Pending {
    std::unique_ptr<WriteRequest> request;
    std::chrono::steady_clock::time_point arrived;
  };

  void run();
  void process(std::vector<Pending>& batch);
  // Runs the whole batch in one transaction; false if a request failed
  // with an error that is not lock contention (then each runs alone).
  ErrorOr<bool> try_batch(std::vector<Pending>& batch);
  void run_alone(Pending& pending);

  std::unique_ptr<Connection> connection_;
  GroupCommitConfig config_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after everything it uses exists
};

}  // namespace pmos::store::detail

#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
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
// Where the back end can split a commit from its flush (SQLite, see
// Connection::defer_flush), a second thread flushes: batch N+1 runs while
// batch N is being written to disk, and a batch completes once its flush
// returned. Requests complete in the order their batches committed.
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
  // A request that has run, waiting for its flush to complete it.
  struct Done {
    std::unique_ptr<WriteRequest> request;
    ErrorOr<void> result;
    std::string detail;  // the driver's message for an error (thread-local where it arose)
  };

  void run();
  void run_flusher();
  // Runs a batch and completes its requests, or hands them to the flusher.
  void process(std::vector<Pending>& batch);
  void finish(std::vector<Done>& done);
  // Runs the whole batch in one transaction; false if a request failed
  // with an error that is not lock contention (then each runs alone).
  ErrorOr<bool> try_batch(std::vector<Pending>& batch);
  ErrorOr<void> run_alone(Pending& pending);

  std::unique_ptr<Connection> connection_;
  GroupCommitConfig config_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool stopping_ = false;

  std::unique_ptr<Flusher> flusher_;  // null: COMMIT is durable when it returns
  std::mutex flush_mutex_;
  std::condition_variable flush_wake_;
  std::vector<Done> to_flush_;
  bool writer_done_ = false;
  // Set once a flush failed: what was committed may not be on disk, and
  // Linux may have dropped the failed pages, so nothing is promised again.
  std::optional<Error> broken_;
  std::thread flush_thread_;

  std::thread thread_;  // last: starts after everything it uses exists
};

}  // namespace pmos::store::detail

#include "group_committer.h"

#include <algorithm>

namespace pmos::store::detail {
namespace {

// Lock contention and PostgreSQL deadlocks resolve themselves after one
// side rolls back; give up after this many rounds so that a wedged database
// turns into errors rather than a stuck writer.
constexpr int kMaxAttempts = 8;

void back_off(int attempt) {
  std::this_thread::sleep_for(std::chrono::milliseconds(1 << std::min(attempt, 6)));
}

}  // namespace

GroupCommitter::GroupCommitter(std::unique_ptr<Connection> connection, GroupCommitConfig config)
    : connection_(std::move(connection)), config_(config) {
  if (config_.max_batch == 0) config_.max_batch = 1;
  if (config_.pipelined_flush) {
    // Without a flusher every COMMIT stays durable on its own: slower, not wrong.
    ErrorOr<std::unique_ptr<Flusher>> flusher = connection_->defer_flush();
    if (flusher.has_value()) flusher_ = std::move(flusher).release_value();
  }
  if (flusher_) flush_thread_ = std::thread([this] { run_flusher(); });
  thread_ = std::thread([this] { run(); });
}

GroupCommitter::~GroupCommitter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  if (flush_thread_.joinable()) {
    {
      std::lock_guard lock(flush_mutex_);
      writer_done_ = true;
    }
    flush_wake_.notify_one();
    flush_thread_.join();
  }
}

void GroupCommitter::submit(std::unique_ptr<WriteRequest> request) {
  bool wake;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back({std::move(request), std::chrono::steady_clock::now()});
    // The writer sleeps either for the first request or for a batch to fill.
    wake = queue_.size() == 1 || queue_.size() >= config_.max_batch;
  }
  if (wake) wake_.notify_one();
}

void GroupCommitter::run() {
  std::vector<Pending> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to do
      if (config_.max_delay.count() > 0 && queue_.size() < config_.max_batch && !stopping_) {
        // Hold the batch open a little so that concurrent writers share the
        // commit; the delay counts from the oldest request, so no request
        // waits longer than max_delay for its batch to start.
        auto deadline = queue_.front().arrived + config_.max_delay;
        wake_.wait_until(lock, deadline, [&] { return stopping_ || queue_.size() >= config_.max_batch; });
      }
      std::size_t take = std::min(queue_.size(), config_.max_batch);
      for (std::size_t i = 0; i < take; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    process(batch);
    batch.clear();
  }
}

void GroupCommitter::process(std::vector<Pending>& batch) {
  std::vector<Done> done;
  done.reserve(batch.size());
  auto record = [&](Pending& pending, ErrorOr<void> result) {
    std::string detail = result.has_value() ? std::string() : last_error_detail();
    done.push_back({std::move(pending.request), result, std::move(detail)});
  };
  std::optional<Error> broken;
  if (flusher_) {
    std::lock_guard lock(flush_mutex_);
    broken = broken_;
  }
  if (broken) {
    set_error_detail("an earlier flush to disk failed; restart the server");
    for (Pending& pending : batch) record(pending, *broken);
  } else {
    ErrorOr<bool> outcome = false;
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      outcome = try_batch(batch);
      if (outcome.has_value() || outcome.error() != kDatabaseBusy) break;
      back_off(attempt);
    }
    if (outcome.has_value() && outcome.value()) {
      for (Pending& pending : batch) record(pending, {});
    } else if (!outcome.has_value() && batch.size() == 1) {
      record(batch[0], outcome.error());
    } else {
      // One request failed (or the batch could not commit): isolate it, so
      // that the others are not refused for its sake. Requests are
      // re-runnable by contract (WriteRequest).
      for (Pending& pending : batch) {
        ErrorOr<void> result = run_alone(pending);
        record(pending, result);
      }
    }
  }
  if (!flusher_) {
    finish(done);
    return;
  }
  {
    std::lock_guard lock(flush_mutex_);
    for (Done& d : done) to_flush_.push_back(std::move(d));
  }
  flush_wake_.notify_one();
}

void GroupCommitter::run_flusher() {
  std::vector<Done> done;
  for (;;) {
    {
      std::unique_lock lock(flush_mutex_);
      flush_wake_.wait(lock, [&] { return writer_done_ || !to_flush_.empty(); });
      if (to_flush_.empty()) return;  // the writer is gone and nothing is left
      done.swap(to_flush_);
    }
    // Everything in `done` committed before this flush starts. After a
    // failed flush none is flushed again: a later fsync can succeed over
    // pages the failed one dropped, and WAL recovery stops at the first lost
    // frame, so "durable" would be a lie for everything after it.
    std::optional<Error> broken;
    {
      std::lock_guard lock(flush_mutex_);
      broken = broken_;
    }
    ErrorOr<void> flushed = broken ? ErrorOr<void>(*broken) : flusher_->flush();
    if (!flushed.has_value()) {
      {
        std::lock_guard lock(flush_mutex_);
        broken_ = flushed.error();
      }
      for (Done& d : done) {
        if (d.result.has_value()) {
          d.result = flushed.error();
          d.detail = "the commit may not be on disk: " + flushed.error().to_string();
        }
      }
    }
    finish(done);
    done.clear();
  }
}

void GroupCommitter::finish(std::vector<Done>& done) {
  for (Done& d : done) {
    // The request reads the driver's message from this thread's slot.
    if (!d.result.has_value()) set_error_detail(d.detail);
    d.request->complete(d.result);
  }
}

ErrorOr<bool> GroupCommitter::try_batch(std::vector<Pending>& batch) {
  TRY(connection_->begin(/*write=*/true));
  Transaction transaction(*connection_);
  for (Pending& pending : batch) {
    ErrorOr<void> result = pending.request->run(transaction);
    if (!result.has_value()) {
      transaction.rollback();
      if (result.error() == kDatabaseBusy) return result.error();
      return false;
    }
  }
  if (ErrorOr<void> committed = connection_->commit(); !committed.has_value()) {
    // SQLite keeps the transaction open after a failed COMMIT (BUSY).
    connection_->rollback();
    return committed.error();
  }
  return true;
}

ErrorOr<void> GroupCommitter::run_alone(Pending& pending) {
  ErrorOr<void> result;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    result = [&]() -> ErrorOr<void> {
      TRY(connection_->begin(/*write=*/true));
      Transaction transaction(*connection_);
      ErrorOr<void> run = pending.request->run(transaction);
      if (!run.has_value()) {
        transaction.rollback();
        return run.error();
      }
      ErrorOr<void> committed = connection_->commit();
      if (!committed.has_value()) connection_->rollback();
      return committed;
    }();
    if (result.has_value() || result.error() != kDatabaseBusy) break;
    back_off(attempt);
  }
  return result;
}

}  // namespace pmos::store::detail

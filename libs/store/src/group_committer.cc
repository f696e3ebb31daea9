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
  thread_ = std::thread([this] { run(); });
}

GroupCommitter::~GroupCommitter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
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
  ErrorOr<bool> outcome = false;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    outcome = try_batch(batch);
    if (outcome.has_value() || outcome.error() != kDatabaseBusy) break;
    back_off(attempt);
  }
  if (outcome.has_value() && outcome.value()) {
    for (Pending& pending : batch) pending.request->complete({});
    return;
  }
  if (!outcome.has_value() && batch.size() == 1) {
    batch[0].request->complete(outcome.error());
    return;
  }
  // One request failed (or the batch could not commit): isolate it, so that
  // the others are not refused for its sake. Requests are re-runnable by
  // contract (WriteRequest).
  for (Pending& pending : batch) run_alone(pending);
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

void GroupCommitter::run_alone(Pending& pending) {
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
  pending.request->complete(result);
}

}  // namespace pmos::store::detail

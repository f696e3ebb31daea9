#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "pmos/base/error_or.h"
#include "pmos/store/database.h"
#include "pmos/store/value.h"

namespace pmos::store::detail {

// Makes commits durable that returned before the disk had them (see
// Connection::defer_flush). flush() may run on another thread than the one
// using the connection.
class Flusher {
 public:
  virtual ~Flusher() = default;
  // Every commit that returned before this call is durable when it returns.
  virtual ErrorOr<void> flush() = 0;
};

// One connection of one back end. Used by one thread at a time (the pool
// hands it out exclusively); it keeps its own prepared-statement cache.
class Connection {
 public:
  virtual ~Connection() = default;

  virtual Backend backend() const = 0;
  // BEGIN (`write`: take the write lock now, so a SQLite reader never has to
  // upgrade mid-transaction and deadlock), COMMIT, ROLLBACK.
  virtual ErrorOr<void> begin(bool write) = 0;
  virtual ErrorOr<void> commit() = 0;
  virtual void rollback() = 0;
  // `sql` is untranslated; the connection translates it once and caches the
  // prepared statement under the original text. Appends result rows to
  // `rows` when given; returns the rows changed.
  virtual ErrorOr<std::int64_t> execute(std::string_view sql, std::span<const Param> params,
                                        std::vector<Row>* rows) = 0;
  virtual ErrorOr<void> execute_script(std::string_view sql) = 0;
  // For the group commit writer: from now on COMMIT returns before the disk
  // has the transaction, and the Flusher makes it durable, so that the next
  // batch runs while the last one is being flushed. nullptr where the back
  // end cannot split the two (PostgreSQL's COMMIT waits for its own flush).
  virtual ErrorOr<std::unique_ptr<Flusher>> defer_flush() { return std::unique_ptr<Flusher>(); }
};

ErrorOr<std::unique_ptr<Connection>> open_sqlite(const DatabaseConfig& config);
ErrorOr<std::unique_ptr<Connection>> open_postgres(const DatabaseConfig& config);
ErrorOr<std::unique_ptr<Connection>> open_connection(const DatabaseConfig& config);

// Records the driver's message for last_error_detail() on this thread.
void set_error_detail(std::string_view detail);

// Connections opened on demand up to a limit, then reused.
// Thread-safe.
class ConnectionPool {
 public:
  explicit ConnectionPool(const DatabaseConfig& config) : config_(config) {}

  // Waits while `max_connections` are out.
  ErrorOr<std::unique_ptr<Connection>> acquire();
  void release(std::unique_ptr<Connection> connection);

 private:
  const DatabaseConfig& config_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;
};

}  // namespace pmos::store::detail

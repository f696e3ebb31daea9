#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "pmos/base/error_or.h"
#include "pmos/base/unique_fd.h"

namespace pmos::store::testing {

// A running scripts/pg-throwaway: a private PostgreSQL cluster on loopback.
// The script holds our end of a pipe on its stdin; closing it (the
// destructor, or this process dying in any way) makes it stop the server and
// delete the cluster. Not thread-safe.
class PgThrowaway {
 public:
  // `script`: the path of scripts/pg-throwaway.
  static ErrorOr<std::unique_ptr<PgThrowaway>> start(const std::string& script);
  ~PgThrowaway();

  const std::string& conninfo() const { return conninfo_; }

 private:
  PgThrowaway(pid_t pid, UniqueFd stdin_pipe, std::string conninfo)
      : pid_(pid), stdin_pipe_(std::move(stdin_pipe)), conninfo_(std::move(conninfo)) {}

  pid_t pid_;
  UniqueFd stdin_pipe_;
  std::string conninfo_;
};

}  // namespace pmos::store::testing

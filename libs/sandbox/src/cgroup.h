#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "pmos/base/error_or.h"
#include "pmos/base/unique_fd.h"
#include "pmos/sandbox/probe.h"

namespace pmos::sandbox::detail {

// Where the app cgroups go: the launcher's own cgroup in the hierarchy that
// carries the memory and pids controllers (v2 preferred, else v1).
struct CgroupParent {
  CgroupVersion version = CgroupVersion::kNone;
  std::string v2_dir;      // kV2
  std::string memory_dir;  // kV1
  std::string pids_dir;    // kV1
};

// Finds the parent. `v2_override`, if not empty, is a cgroup v2 directory to
// use instead of the launcher's own cgroup.
ErrorOr<CgroupParent> find_cgroup_parent(std::string_view v2_override);

// One app's cgroup (two directories on v1), with its memory and pids limits.
// Owns the directories: the destructor removes them, which works once the
// processes in them are gone. Not thread-safe.
class Cgroup {
 public:
  static ErrorOr<std::unique_ptr<Cgroup>> create(const CgroupParent& parent, std::string_view name,
                                                 std::uint64_t memory_limit_bytes,
                                                 std::uint32_t pids_limit);
  // v1 only: the directories without limits yet, for a LaunchPool's parked
  // stub; set_limits() before an app runs in them.
  static ErrorOr<std::unique_ptr<Cgroup>> create_unlimited(const CgroupParent& parent, std::string_view name);
  ErrorOr<void> set_limits(std::uint64_t memory_limit_bytes, std::uint32_t pids_limit);
  ~Cgroup();
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;

  CgroupVersion version() const { return version_; }
  // v2: the directory for clone3(CLONE_INTO_CGROUP), so the app never runs
  // outside its limits. -1 on v1.
  int clone_into_fd() const { return dir_fd_.get(); }
  // v1: moves `pid` in (before it runs anything). The move waits for an RCU
  // grace period unless another migration happened just before.
  ErrorOr<void> attach(pid_t pid);
  // v1: the two `tasks` files (memory, pids), open for writing, for a new
  // single-threaded child to move itself in by writing "0": a thread moving
  // itself does not wait for the grace period.
  ErrorOr<std::array<UniqueFd, 2>> open_tasks_files() const;
  // How many times the memory limit made the kernel kill something in the
  // cgroup (cumulative over the cgroup's life: a sandbox compares the count
  // before and after each launch). 0 if unknown.
  std::uint64_t oom_kills() const;
  // Read from outside, so a recycled sandbox does not rest on its reaper's
  // word: the cgroup (every hierarchy of it) holds exactly two processes,
  // `reaper` and one child of it, and two tasks.
  ErrorOr<void> expect_reaper_and_one_child(pid_t reaper) const;

 private:
  Cgroup(CgroupVersion version, std::string first_dir, std::string second_dir, UniqueFd dir_fd)
      : version_(version), first_dir_(std::move(first_dir)), second_dir_(std::move(second_dir)),
        dir_fd_(std::move(dir_fd)) {}

  CgroupVersion version_;
  std::string first_dir_;   // v2: the cgroup; v1: memory
  std::string second_dir_;  // v1: pids
  UniqueFd dir_fd_;
};

}  // namespace pmos::sandbox::detail

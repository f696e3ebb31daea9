#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pmos/base/error_or.h"
#include "pmos/base/unique_fd.h"
#include "pmos/device/app_store.h"
#include "pmos/device/audit.h"
#include "pmos/device/control.h"
#include "pmos/sandbox/policy.h"
#include "pmos/sandbox/sandbox.h"

namespace pmos::pmosd {

struct Config {
  std::string state_dir;
  std::string socket_path;  // default STATE/pmosd.sock
  std::vector<std::string> authority_key_files;
  std::string standard_file;
  sandbox::Policy policy = sandbox::Policy::strict();
  // Keep a prepared sandbox per app (see Daemon), so that `run` only starts it.
  bool prepare_launches = true;
};

// The device daemon: owns the app store and the audit log, answers `pmos` on
// the control socket, launches apps in sandboxes and brokers for each.
// One thread accepts; each control connection gets a thread (a run holds its
// thread until the app exits, and the sandbox's reaper is tied to it, or, on
// cgroup v1, to the launch pool's thread).
class Daemon {
 public:
  static ErrorOr<std::unique_ptr<Daemon>> create(Config config);
  ~Daemon();

  // Serves until SIGTERM or SIGINT (which the caller has blocked in every
  // thread; `signal_fd` is a signalfd for them). Running apps are killed on
  // the way out.
  ErrorOr<void> run(int signal_fd);

 private:
  Daemon(Config config, std::unique_ptr<device::AuditLog> audit, std::unique_ptr<device::AppStore> store,
         UniqueFd listener)
      : config_(std::move(config)), audit_(std::move(audit)), store_(std::move(store)), listener_(std::move(listener)) {}

  void serve_connection(UniqueFd connection);
  device::ControlResponse dispatch(const device::ControlRequest& request, UniqueFd passed);
  device::ControlResponse install(UniqueFd package);
  device::ControlResponse remove(const std::string& app_id);
  device::ControlResponse list();
  device::ControlResponse run_app(const std::string& app_id);
  device::ControlResponse logs(const std::string& app_id);
  device::ControlResponse stop(const std::string& app_id);
  std::string log_path(const std::string& app_id) const;

  // Prepared launches, zygote style: for an installed app, a sandbox made
  // ahead of time (sandbox::Sandbox::prepare: confined, parked before the
  // app's fork) with its log and broker socket; `run` takes it and starts it.
  // Made by one long-lived thread (the parked reapers die with the thread
  // that made them), after an install, at start-up and after each run;
  // dropped when the app is updated or removed, and at shutdown.
  struct Prepared {
    std::unique_ptr<sandbox::Sandbox> box;
    UniqueFd broker_end;
    pkg::Digest digest{};  // of the package it was made for
  };
  // The spec of `app`'s sandbox; `broker_end` gets pmosd's end of its broker socket.
  ErrorOr<sandbox::SandboxSpec> app_spec(const device::InstalledApp& app, UniqueFd& broker_end);
  void want_prepared(const std::string& app_id);  // under mutex_
  void prepare_loop();
  void prepare(const std::string& app_id);
  void stop_preparing();

  const Config config_;
  std::unique_ptr<device::AuditLog> audit_;
  std::unique_ptr<device::AppStore> store_;  // guarded by mutex_
  UniqueFd listener_;
  // Null unless cgroup v1. Declared before the workers: destroyed after them,
  // since the sandboxes it launched die with it.
  std::unique_ptr<sandbox::LaunchPool> launch_pool_;

  std::mutex mutex_;
  // App id -> its sandbox (null while it is being launched). An entry is
  // erased, under mutex_, before its Sandbox is destroyed.
  std::map<std::string, sandbox::Sandbox*> running_;
  std::atomic<bool> stopping_{false};
  std::map<std::string, Prepared> prepared_;  // guarded by mutex_
  std::deque<std::string> to_prepare_;        // guarded by mutex_
  std::uint64_t store_changes_ = 0;           // installs and removals; guarded by mutex_
  bool preparer_stop_ = false;                // guarded by mutex_
  std::string preparing_;                     // the app being prepared now; guarded by mutex_
  std::condition_variable prepare_wanted_;
  std::condition_variable prepared_changed_;  // preparing_ went back to empty
  std::thread preparer_;

  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Worker> workers_;  // only the accepting thread touches it
};

}  // namespace pmos::pmosd

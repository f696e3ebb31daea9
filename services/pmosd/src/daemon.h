#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pmos/base/error_or.h"
#include "pmos/base/unique_fd.h"
#include "pmos/device/app_store.h"
#include "pmos/device/audit.h"
#include "pmos/device/control.h"
#include "pmos/device/grants.h"
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
// Worker threads accept the control connections and serve them (a run holds
// its worker until the app's tree is gone); run()'s thread waits for the
// stop signal and makes workers when none is left waiting.
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

  // Sends the answer to the client before the request's work is over (sent
  // once; a later call does nothing). `run` answers with it as soon as the
  // app's exit is known and audited, then waits for the rest of its tree.
  using Reply = std::function<void(const device::ControlResponse&)>;

  void serve_connection(UniqueFd connection);
  device::ControlResponse dispatch(const device::ControlRequest& request, UniqueFd passed, const Reply& reply);
  device::ControlResponse install(UniqueFd package);
  device::ControlResponse remove(const std::string& app_id);
  device::ControlResponse list();
  device::ControlResponse run_app(const std::string& app_id, const Reply& reply);
  device::ControlResponse logs(const std::string& app_id);
  device::ControlResponse stop(const std::string& app_id);
  std::string log_path(const std::string& app_id) const;
  // After entries appended with AuditLog::Head::kLater (launch, exit).
  void update_audit_head();
  // The same, done soon by head_writer_, a thread at the lowest priority: the
  // entries are durable already, and done at once the rewrite (a signature,
  // a write, two fsyncs) ran on the CPU of the client's exit before the
  // client's waiting parent (traced).
  void want_audit_head();
  void head_loop();
  void stop_head_writer();
  // Waits (bounded) while `app_id`'s run has answered but its tree is still
  // being torn down; true if it is not running now. `lock` holds mutex_.
  bool wait_until_not_running(std::unique_lock<std::mutex>& lock, const std::string& app_id);

  // Prepared launches, zygote style: for an installed app, a sandbox made
  // ahead of time (sandbox::Sandbox::prepare: confined, parked before the
  // app's fork) with its log and broker socket; `run` takes it and starts it.
  // Made by one long-lived thread (the parked reapers die with the thread
  // that made them), after an install, at start-up and after each run;
  // dropped when the app is updated or removed, and at shutdown.
  // The broker's thread, made with a prepared sandbox: making a thread on the
  // launch path took 0.2 ms (its clone3, traced). It waits for the run's
  // grants (computed at `run`, from the standard in force then), then serves
  // the app's socket until the app closes it. Destroying it stops it
  // (shutdown(2) of the socket, which must outlive it) and joins it.
  class BrokerThread {
   public:
    BrokerThread(std::string app_id, device::AuditLog& audit, int socket);
    ~BrokerThread();
    BrokerThread(const BrokerThread&) = delete;
    BrokerThread& operator=(const BrokerThread&) = delete;
    void serve(device::Grants grants);

   private:
    void run();
    const std::string app_id_;
    device::AuditLog& audit_;
    const int socket_;
    std::mutex mutex_;
    std::condition_variable wanted_;
    std::optional<device::Grants> grants_;  // guarded by mutex_
    bool stop_ = false;                     // guarded by mutex_
    std::thread thread_;
  };
  struct Prepared {
    std::unique_ptr<sandbox::Sandbox> box;
    UniqueFd broker_end;
    pkg::Digest digest{};  // of the package it was made for
    std::unique_ptr<BrokerThread> broker;  // declared after broker_end: it goes first
  };
  // The spec of `app`'s sandbox; `broker_end` gets pmosd's end of its broker socket.
  ErrorOr<sandbox::SandboxSpec> app_spec(const device::InstalledApp& app, UniqueFd& broker_end);
  // One launch's descriptors for `app` (stdio: the log; fd 3: the app's end
  // of a new broker socket, whose other end goes to `broker_end`).
  struct AppDescriptors {
    std::array<UniqueFd, 3> stdio;
    std::vector<UniqueFd> fds;
  };
  ErrorOr<AppDescriptors> app_descriptors(const std::string& app_id, UniqueFd& broker_end);
  // After a run that ended normally: resets `box` for the next launch of the
  // same app and makes it the app's prepared sandbox (docs/device.md,
  // "Recycled sandboxes"). False (and `box` untouched) if it may not or
  // could not be reused; the caller then ends it. `changes` is
  // store_changes_ when the run began.
  bool recycle(const device::InstalledApp& app, std::unique_ptr<sandbox::Sandbox>& box, std::uint64_t changes);
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
  // An app counts as running from its run's start until its whole sandbox
  // is gone: its other processes die only when the reaper exits, after the
  // app's exit is known (and answered).
  struct Running {
    sandbox::Sandbox* box = nullptr;  // null while it is being launched
    bool app_exited = false;          // answered; the tree is being torn down
  };
  // App id -> its run. An entry is erased, under mutex_, before its Sandbox
  // is destroyed; run_ended_ is notified then.
  std::map<std::string, Running> running_;
  std::condition_variable run_ended_;
  std::atomic<bool> stopping_{false};
  std::map<std::string, Prepared> prepared_;  // guarded by mutex_
  std::deque<std::string> to_prepare_;        // guarded by mutex_
  std::uint64_t store_changes_ = 0;           // installs and removals; guarded by mutex_
  bool preparer_stop_ = false;                // guarded by mutex_
  std::string preparing_;                     // the app being prepared now; guarded by mutex_
  std::condition_variable prepare_wanted_;
  std::condition_variable prepared_changed_;  // preparing_ went back to empty
  std::thread preparer_;

  std::mutex head_mutex_;
  std::condition_variable head_wanted_;
  bool head_pending_ = false;  // guarded by head_mutex_
  bool head_stop_ = false;     // guarded by head_mutex_
  std::thread head_writer_;

  // Control connections are accepted by the worker threads that serve them,
  // each blocked in accept() on the listener until one comes: a client's
  // connect wakes the thread that serves it, with no hand-off from an
  // accepting thread and no thread to make first (a new thread may wait
  // behind whatever the CPU is running before it first runs). A worker serves one connection at a
  // time (a run holds it until the app's tree is gone). kIdleWorkers wait;
  // a worker that takes the last waiting place asks the accepting-side
  // thread (run()) for another through `workers_wanted_`, and one that
  // finds enough waiting when it is done leaves.
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  void start_worker();  // run()'s thread only
  void worker_loop();
  void stop_workers();  // run()'s thread only
  std::vector<Worker> workers_;  // only run()'s thread touches it
  UniqueFd workers_wanted_;      // eventfd: a worker took the last waiting place
  std::mutex workers_mutex_;
  std::size_t idle_workers_ = 0;      // waiting in accept(); guarded by workers_mutex_
  bool workers_stop_ = false;         // guarded by workers_mutex_
};

}  // namespace pmos::pmosd

#include "daemon.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <thread>

#include "pmos/base/codec.h"
#include "pmos/base/file.h"
#include "pmos/device/broker.h"
#include "pmos/device/grants.h"
#include "pmos/pkg/key_file.h"

namespace pmos::pmosd {
namespace {

using device::ControlResponse;
using device::ControlStatus;

constexpr std::size_t kMaxPackageBytes = std::size_t{1} << 31;
constexpr std::size_t kMaxLogReply = 1 << 20;
// Prepared sandboxes held at once: each is a parked process with its
// namespaces, a few hundred KiB of kernel and process memory.
constexpr std::size_t kMaxPrepared = 16;
// Launches one sandbox serves before it is replaced by a fresh one: bounds
// what a long-lived reaper could accumulate (its copy of pmosd's memory,
// kernel state the reset does not see).
constexpr std::uint32_t kMaxLaunchesPerSandbox = 256;
// How long the reaper may take to reset a sandbox (kill, reap, empty /tmp and
// IPC, park the next process) before it is discarded instead.
constexpr std::chrono::milliseconds kRecycleTimeout{1000};
// Control workers kept waiting in accept() for the next connections.
constexpr std::size_t kIdleWorkers = 2;
// How long a run's `launch` entry may stay past the signed head while the app
// runs (docs/device.md, "Prepared launches"): an app that ends sooner gets one
// head rewrite after the answer, off the path of its launch and its exit.
constexpr std::chrono::milliseconds kHeadDelay{100};

ControlResponse ok(std::string text, std::uint32_t exit_code = 0) {
  return {ControlStatus::kOk, exit_code, std::move(text)};
}

// A refusal (the request or the package was not acceptable) or a failure
// (the device could not do it), by the error's category.
ControlResponse refused(const std::string& what, const Error& error) {
  ControlStatus status = error.category() == ErrorCategory::kSystem || error.category() == ErrorCategory::kInternal
                             ? ControlStatus::kFailed
                             : ControlStatus::kRefused;
  return {status, 1, what + ": " + error.to_string()};
}

ErrorOr<Bytes> read_descriptor(int fd, std::size_t max_size) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Error::system("fstat", errno);
  if (!S_ISREG(st.st_mode)) return Error::invalid_argument("the package is not a regular file");
  if (static_cast<std::uint64_t>(st.st_size) > max_size) return Error::invalid_argument("the package is too large");
  Bytes out(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::system("read", errno);
    }
    if (n == 0) return Error::invalid_argument("the package shrank while being read");
    done += static_cast<std::size_t>(n);
  }
  return out;
}

ErrorOr<UniqueFd> listen_on(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) return Error::invalid_argument("socket path too long");
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::system("socket", errno);
  ::unlink(path.c_str());  // a stale socket of an earlier run
  // Created 0600 (umask 077 around bind): whoever may connect administers the
  // device, so there must be no moment where others could.
  mode_t old_mask = ::umask(077);
  int rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address);
  int saved = errno;
  ::umask(old_mask);
  if (rc != 0) return Error::system("bind", saved);
  if (::chmod(path.c_str(), 0600) != 0) return Error::system("chmod", errno);
  if (::listen(fd.get(), 16) != 0) return Error::system("listen", errno);
  return fd;
}

std::string describe(const device::Grants& grants) {
  std::string text = "endpoints [";
  for (std::size_t i = 0; i < grants.endpoints.size(); ++i) text += (i ? " " : "") + grants.endpoints[i].text();
  text += "] capabilities [";
  for (std::size_t i = 0; i < grants.capabilities.size(); ++i)
    text += (i ? " " : "") + std::string(pkg::to_string(grants.capabilities[i]));
  return text + "]";
}

std::string describe(const sandbox::Isolation& isolation) {
  std::string text = "landlock ABI " + std::to_string(isolation.landlock_abi);
  text += isolation.seccomp ? ", seccomp" : ", NO seccomp";
  text += isolation.cgroup == sandbox::CgroupVersion::kV2   ? ", cgroup v2 limits"
          : isolation.cgroup == sandbox::CgroupVersion::kV1 ? ", cgroup v1 limits"
                                                            : ", NO cgroup limits";
  return text;
}

}  // namespace

ErrorOr<std::unique_ptr<Daemon>> Daemon::create(Config config) {
  // The sandbox mounts from absolute, clean paths.
  std::error_code ec;
  config.state_dir = std::filesystem::absolute(config.state_dir, ec).lexically_normal().string();
  if (ec) return Error::system("getcwd", ec.value());
  while (config.state_dir.size() > 1 && config.state_dir.ends_with('/')) config.state_dir.pop_back();
  if (config.socket_path.empty()) config.socket_path = config.state_dir + "/pmosd.sock";
  std::vector<pkg::SignerKey> authorities;
  for (const std::string& path : config.authority_key_files) {
    Bytes text = TRY(read_file(path, 4096));
    authorities.push_back(TRY(pkg::parse_public_key_file(as_string(text))));
  }
  if (authorities.empty()) return Error::invalid_argument("pmosd: at least one --authority key is required");
  Bytes standard_text = TRY(read_file(config.standard_file, 1 << 20));
  pkg::AppStandard standard = TRY(pkg::AppStandard::from_json(as_string(standard_text)));

  if (::mkdir(config.state_dir.c_str(), 0711) != 0 && errno != EEXIST) return Error::system("mkdir", errno);
  // The app's uid walks through STATE to its package and data directories.
  if (::chmod(config.state_dir.c_str(), 0711) != 0) return Error::system("chmod", errno);
  std::string logs = config.state_dir + "/logs";
  if (::mkdir(logs.c_str(), 0700) != 0 && errno != EEXIST) return Error::system("mkdir", errno);

  crypto::PrivateKey device_key = TRY(device::load_or_create_device_key(config.state_dir));
  auto audit = TRY(device::AuditLog::open(config.state_dir + "/audit.log", config.state_dir + "/audit.head",
                                          std::move(device_key)));
  device::AppStore::Options options;
  options.per_app_uids = ::geteuid() == 0;
  auto store = TRY(device::AppStore::open(config.state_dir, pkg::TrustAnchors(std::move(authorities)),
                                          std::move(standard), *audit, options));
  UniqueFd listener = TRY(listen_on(config.socket_path));
  bool strict = config.policy.landlock == sandbox::Requirement::kRequired &&
                config.policy.seccomp == sandbox::Requirement::kRequired &&
                config.policy.cgroup_limits == sandbox::Requirement::kRequired;
  TRY(audit->append(device::AuditEvent::kSystem, "",
                    std::string("pmosd started: sandbox policy ") + (strict ? "strict" : "best-effort") +
                        ", app standard version " + std::to_string(store->standard().version) + ", " +
                        std::to_string(config.authority_key_files.size()) + " authority key(s)"));
  std::unique_ptr<Daemon> daemon(new Daemon(std::move(config), std::move(audit), std::move(store), std::move(listener)));
  // On cgroup v1, parked reapers take the cgroup migration (an RCU grace
  // period, ~10 ms) off every launch; elsewhere launches take the ordinary path.
  if (daemon->config_.policy.cgroup_limits != sandbox::Requirement::kOff) {
    auto pool = sandbox::LaunchPool::create(2);
    if (pool.has_value()) daemon->launch_pool_ = std::move(*pool);
  }
  {
    Daemon* d = daemon.get();
    d->head_writer_ = std::thread([d] { d->head_loop(); });
  }
  if (daemon->config_.prepare_launches) {
    Daemon* d = daemon.get();
    d->preparer_ = std::thread([d] { d->prepare_loop(); });
    std::lock_guard lock(d->mutex_);
    if (auto apps = d->store_->list(); apps.has_value())
      for (const device::InstalledApp& app : *apps) d->want_prepared(app.app_id());
  }
  return daemon;
}

Daemon::~Daemon() {
  stop_workers();
  stop_preparing();
  stop_head_writer();
  ::unlink(config_.socket_path.c_str());
}

void Daemon::want_prepared(const std::string& app_id) {
  if (!config_.prepare_launches || stopping_) return;
  to_prepare_.push_back(app_id);
  prepare_wanted_.notify_one();
}

void Daemon::prepare_loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    prepare_wanted_.wait(lock, [&] { return preparer_stop_ || !to_prepare_.empty(); });
    if (preparer_stop_) break;
    std::string app_id = std::move(to_prepare_.front());
    to_prepare_.pop_front();
    lock.unlock();
    prepare(app_id);
    lock.lock();
  }
  // The parked reapers die with this thread: their Sandboxes go first.
  std::map<std::string, Prepared> dropped = std::move(prepared_);
  prepared_.clear();
  lock.unlock();
  dropped.clear();
}

void Daemon::stop_preparing() {
  {
    std::lock_guard lock(mutex_);
    preparer_stop_ = true;
  }
  prepare_wanted_.notify_all();
  if (preparer_.joinable()) preparer_.join();
}

void Daemon::prepare(const std::string& app_id) {
  device::InstalledApp app;
  std::uint64_t changes;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || prepared_.contains(app_id) || running_.contains(app_id) || prepared_.size() >= kMaxPrepared)
      return;
    auto found = store_->find(app_id);
    if (!found) return;  // removed meanwhile
    app = std::move(*found);
    changes = store_changes_;
    preparing_ = app_id;
  }
  std::optional<Prepared> prepared;
  UniqueFd broker_end;
  auto box = [&]() -> ErrorOr<std::unique_ptr<sandbox::Sandbox>> {
    auto spec = TRY(app_spec(app, broker_end));
    // Reused for the app's next launches while nothing about it changes:
    // this thread lives as long as pmosd, and the reaper dies with it.
    spec.recyclable = true;
    return sandbox::Sandbox::prepare(spec);  // the sandbox holds the app's descriptors now
  }();
  if (box) {
    auto broker = std::make_unique<BrokerThread>(app_id, *audit_, broker_end.get());
    prepared = Prepared{std::move(*box), std::move(broker_end), app.digest, std::move(broker)};
  } else {
    // Not fatal: `run` launches the ordinary way and reports what fails there.
    std::fprintf(stderr, "pmosd: preparing %s: %s\n", app_id.c_str(), box.error().to_string().c_str());
  }
  std::lock_guard lock(mutex_);
  preparing_.clear();
  prepared_changed_.notify_all();
  // Made for a package that was replaced or removed meanwhile: dropped on
  // return, after the lock (locals go in reverse order).
  if (!prepared || stopping_ || store_changes_ != changes || prepared_.contains(app_id) || running_.contains(app_id))
    return;
  prepared_.emplace(app_id, std::move(*prepared));
}

ErrorOr<Daemon::AppDescriptors> Daemon::app_descriptors(const std::string& app_id, UniqueFd& broker_end) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return Error::system("socketpair", errno);
  UniqueFd ours(pair[0]);
  UniqueFd app_end(pair[1]);
  UniqueFd log(::open(log_path(app_id).c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!log) return Error::system("open log", errno);
  AppDescriptors descriptors;
  descriptors.stdio[1] = UniqueFd(::fcntl(log.get(), F_DUPFD_CLOEXEC, 3));
  descriptors.stdio[2] = UniqueFd(::fcntl(log.get(), F_DUPFD_CLOEXEC, 3));
  if (!descriptors.stdio[1] || !descriptors.stdio[2]) return Error::system("fcntl", errno);
  descriptors.fds.push_back(std::move(app_end));
  broker_end = std::move(ours);
  return descriptors;
}

ErrorOr<sandbox::SandboxSpec> Daemon::app_spec(const device::InstalledApp& app, UniqueFd& broker_end) {
  const std::string& app_id = app.app_id();
  AppDescriptors descriptors = TRY(app_descriptors(app_id, broker_end));

  sandbox::SandboxSpec spec;
  spec.app_id = app_id;
  spec.package_dir = store_->package_dir(app_id);
  spec.data_dir = store_->data_dir(app_id);
  spec.argv = {"/app/" + app.manifest.entry_point};
  spec.env = {"PATH=/usr/bin:/bin", "HOME=/data", "PMOS_APP_ID=" + app_id, "PMOS_BROKER_FD=3"};
  spec.cwd = "/data";
  spec.stdio = std::move(descriptors.stdio);
  spec.fds = std::move(descriptors.fds);
  if (::geteuid() == 0) spec.host_uid = app.host_uid;
  spec.policy = config_.policy;
  return spec;
}

bool Daemon::recycle(const device::InstalledApp& app, std::unique_ptr<sandbox::Sandbox>& box, std::uint64_t changes) {
  const std::string& app_id = app.app_id();
  if (!box->recyclable() || box->finished() || box->launches() >= kMaxLaunchesPerSandbox) return false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || store_changes_ != changes) return false;
  }
  // The next launch's own broker socket and log descriptors; the reaper
  // resets the sandbox meanwhile, and recycle() checks its work from outside.
  UniqueFd broker_end;
  auto descriptors = app_descriptors(app_id, broker_end);
  if (!descriptors) return false;
  auto reset = box->recycle(std::move(descriptors->stdio), std::move(descriptors->fds), kRecycleTimeout);
  if (!reset) {
    std::fprintf(stderr, "pmosd: not reusing the sandbox of %s: %s\n", app_id.c_str(), reset.error().to_string().c_str());
    return false;
  }
  auto broker = std::make_unique<BrokerThread>(app_id, *audit_, broker_end.get());
  std::lock_guard lock(mutex_);
  // Installed, updated or removed meanwhile (the same checks as for a
  // sandbox prepared ahead): the sandbox shows old files, so it goes.
  if (stopping_ || store_changes_ != changes || prepared_.contains(app_id)) return false;
  auto found = store_->find(app_id);
  if (!found || found->digest != app.digest || found->host_uid != app.host_uid) return false;
  prepared_.emplace(app_id, Prepared{std::move(box), std::move(broker_end), app.digest, std::move(broker)});
  prepared_changed_.notify_all();
  return true;
}

ErrorOr<void> Daemon::run(int signal_fd) {
  workers_wanted_ = UniqueFd(::eventfd(0, EFD_CLOEXEC));
  if (!workers_wanted_) return Error::system("eventfd", errno);
  std::printf("pmosd: listening on %s\n", config_.socket_path.c_str());
  std::fflush(stdout);
  for (std::size_t i = 0; i < kIdleWorkers; ++i) start_worker();
  for (;;) {
    pollfd fds[2] = {{workers_wanted_.get(), POLLIN, 0}, {signal_fd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      stop_workers();
      return Error::system("poll", errno);
    }
    if (fds[1].revents != 0) break;
    std::uint64_t count;
    (void)!::read(workers_wanted_.get(), &count, sizeof count);
    // Workers that left are joined here, so they do not pile up.
    std::erase_if(workers_, [](Worker& w) {
      if (!w.done->load()) return false;
      w.thread.join();
      return true;
    });
    bool wanted;
    {
      std::lock_guard lock(workers_mutex_);
      wanted = idle_workers_ == 0;
    }
    if (wanted) start_worker();
  }
  std::printf("pmosd: stopping\n");
  stopping_ = true;
  {
    std::lock_guard lock(mutex_);
    for (auto& [app_id, run] : running_)
      if (run.box) (void)run.box->kill();
  }
  stop_workers();
  stop_preparing();
  return audit_->append(device::AuditEvent::kSystem, "", "pmosd stopped");
}

void Daemon::start_worker() {
  {
    std::lock_guard lock(workers_mutex_);
    ++idle_workers_;
  }
  auto done = std::make_shared<std::atomic<bool>>(false);
  workers_.push_back({std::thread([this, done] {
                        worker_loop();
                        done->store(true);
                      }),
                      done});
}

void Daemon::stop_workers() {
  {
    std::lock_guard lock(workers_mutex_);
    workers_stop_ = true;
  }
  // Wakes every worker blocked in accept() (it fails with EINVAL).
  ::shutdown(listener_.get(), SHUT_RDWR);
  for (Worker& worker : workers_)
    if (worker.thread.joinable()) worker.thread.join();
  workers_.clear();
}

void Daemon::worker_loop() {
  for (;;) {
    UniqueFd connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    int error = errno;
    bool want_another = false;
    {
      std::lock_guard lock(workers_mutex_);
      if (workers_stop_) return;
      if (connection) {
        --idle_workers_;
        want_another = idle_workers_ == 0;
      }
    }
    if (!connection) {
      // A client that gave up (ECONNABORTED) or a signal: at once; anything
      // else (out of descriptors or memory) would fail again straight away.
      if (error != EINTR && error != ECONNABORTED) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (want_another) {
      std::uint64_t one = 1;
      (void)!::write(workers_wanted_.get(), &one, sizeof one);
    }
    // A client that connects and never sends would hold its thread (and
    // shutdown) forever; `run` replies late, but only the send waits for it.
    timeval timeout{10, 0};
    (void)::setsockopt(connection.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    serve_connection(std::move(connection));
    std::lock_guard lock(workers_mutex_);
    if (workers_stop_ || idle_workers_ >= kIdleWorkers) return;
    ++idle_workers_;
  }
}

void Daemon::serve_connection(UniqueFd connection) {
  // Besides the socket's mode: only pmosd's own uid (or root) administers the
  // device, even if someone loosened the socket's permissions.
  ucred peer{};
  socklen_t length = sizeof peer;
  if (::getsockopt(connection.get(), SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 ||
      (peer.uid != ::geteuid() && peer.uid != 0)) {
    (void)audit_->append(device::AuditEvent::kDenial, "",
                         "control connection refused: peer uid " + std::to_string(peer.uid));
    (void)device::send_frame(connection.get(),
                             tls::encode(refused("connect", Error::invalid_argument("not pmosd's user"))));
    return;
  }
  UniqueFd passed;
  auto body = device::receive_frame(connection.get(), &passed);
  if (!body) return;
  bool replied = false;
  Reply reply = [&](const ControlResponse& response) {
    if (replied) return;
    replied = true;
    (void)device::send_frame(connection.get(), tls::encode(response));
  };
  auto request = device::decode_control_request(*body);
  if (!request) {
    reply(refused("bad request", request.error()));
  } else {
    reply(dispatch(*request, std::move(passed), reply));
  }
}

ControlResponse Daemon::dispatch(const device::ControlRequest& request, UniqueFd passed, const Reply& reply) {
  if (request.op != device::ControlOp::kInstall && passed)
    return refused("bad request", Error::invalid_argument("a descriptor came with a request that takes none"));
  switch (request.op) {
    case device::ControlOp::kInstall:
      return install(std::move(passed));
    case device::ControlOp::kRemove:
      return remove(request.app_id);
    case device::ControlOp::kList:
      return list();
    case device::ControlOp::kRun:
      return run_app(request.app_id, reply);
    case device::ControlOp::kLogs:
      return logs(request.app_id);
    case device::ControlOp::kStop:
      return stop(request.app_id);
  }
  return refused("bad request", Error::invalid_argument("unknown operation"));
}

ControlResponse Daemon::install(UniqueFd package) {
  if (!package) return refused("install", Error::invalid_argument("no package descriptor was passed"));
  auto bytes = read_descriptor(package.get(), kMaxPackageBytes);
  if (!bytes) return refused("install", bytes.error());
  std::unique_lock lock(mutex_);
  // Replacing the files of a running app would pull them from under it.
  if (auto decoded = pkg::decode_package(*bytes); decoded && !wait_until_not_running(lock, decoded->manifest().app_id))
    return refused("install", Error::invalid_argument("the app is running; stop it first"));
  auto result = store_->install(*bytes);
  if (!result) return refused("install refused", result.error());
  const device::InstalledApp& app = result->app;
  // A sandbox prepared for the previous version shows its old files: dropped.
  ++store_changes_;
  prepared_.erase(app.app_id());
  want_prepared(app.app_id());
  std::string text = result->previous_version
                         ? "updated " + app.app_id() + " from version " + std::to_string(*result->previous_version) +
                               " to " + std::to_string(app.manifest.version_code)
                         : "installed " + app.app_id() + " version " + std::to_string(app.manifest.version_code);
  return ok(text + "\n");
}

ControlResponse Daemon::remove(const std::string& app_id) {
  std::unique_lock lock(mutex_);
  if (!wait_until_not_running(lock, app_id))
    return refused("remove", Error::invalid_argument("the app is running; stop it first"));
  // A sandbox being prepared for it now is kept, then dropped below with the
  // others, so that no process of the app outlives the answer.
  prepared_changed_.wait_for(lock, std::chrono::seconds(1), [&] { return preparing_ != app_id; });
  if (auto r = store_->remove(app_id); !r) return refused("remove", r.error());
  ++store_changes_;
  prepared_.erase(app_id);
  return ok("removed " + app_id + "\n");
}

ControlResponse Daemon::list() {
  std::lock_guard lock(mutex_);
  auto apps = store_->list();
  if (!apps) return refused("list", apps.error());
  std::string text;
  for (const device::InstalledApp& app : *apps) {
    text += app.app_id() + "  version " + std::to_string(app.manifest.version_code) + " (" +
            app.manifest.version_name + ")  developer key " + to_hex(app.developer_key.id()).substr(0, 16) +
            "  uid " + std::to_string(app.host_uid) + (running_.contains(app.app_id()) ? "  running" : "") +
            (prepared_.contains(app.app_id()) ? "  prepared" : "") + "\n";
  }
  return ok(text);
}

ControlResponse Daemon::stop(const std::string& app_id) {
  std::lock_guard lock(mutex_);
  auto it = running_.find(app_id);
  // After its run was answered the app has exited; what is left of its tree
  // dies with the reaper on its own.
  if (it == running_.end() || it->second.box == nullptr || it->second.app_exited)
    return refused("stop", Error::invalid_argument("the app is not running"));
  if (auto r = it->second.box->kill(); !r) return refused("stop", r.error());
  // The exit itself is audited by the thread that waits for the app.
  return ok("stopped " + app_id + "\n");
}

std::string Daemon::log_path(const std::string& app_id) const {
  return config_.state_dir + "/logs/" + app_id + ".log";
}

void Daemon::update_audit_head() {
  // The entries are durable already; a head that cannot be written now is
  // written by the next append (and verification accepts entries past it).
  if (auto r = audit_->update_head(); !r)
    std::fprintf(stderr, "pmosd: updating the audit head: %s\n", r.error().to_string().c_str());
}

Daemon::BrokerThread::BrokerThread(std::string app_id, device::AuditLog& audit, int socket)
    : app_id_(std::move(app_id)), audit_(audit), socket_(socket), thread_([this] { run(); }) {}

Daemon::BrokerThread::~BrokerThread() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wanted_.notify_one();
  // Ends a serve() blocked in a receive, or in a send to an app that is gone.
  ::shutdown(socket_, SHUT_RDWR);
  thread_.join();
}

void Daemon::BrokerThread::serve(device::Grants grants) {
  {
    std::lock_guard lock(mutex_);
    grants_ = std::move(grants);
  }
  wanted_.notify_one();
}

void Daemon::BrokerThread::run() {
  std::optional<device::Grants> grants;
  {
    std::unique_lock lock(mutex_);
    wanted_.wait(lock, [&] { return stop_ || grants_.has_value(); });
    if (!grants_) return;  // the sandbox was dropped before its run
    grants = std::move(grants_);
  }
  device::Broker broker(app_id_, std::move(*grants), audit_, {});
  if (auto served = broker.serve(socket_); !served)
    std::fprintf(stderr, "pmosd: broker of %s: %s\n", app_id_.c_str(), served.error().to_string().c_str());
}

void Daemon::want_audit_head() {
  {
    std::lock_guard lock(head_mutex_);
    head_pending_ = true;
  }
  head_wanted_.notify_one();
}

void Daemon::head_loop() {
  // Nice 19: it runs when nothing else wants the CPU, and still gets a share
  // of a busy one (unlike SCHED_IDLE, which could starve it).
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
  std::unique_lock lock(head_mutex_);
  for (;;) {
    head_wanted_.wait(lock, [&] { return head_pending_ || head_stop_; });
    if (!head_pending_) break;
    head_pending_ = false;
    lock.unlock();
    update_audit_head();
    lock.lock();
  }
}

void Daemon::stop_head_writer() {
  {
    std::lock_guard lock(head_mutex_);
    head_stop_ = true;
  }
  head_wanted_.notify_one();
  if (head_writer_.joinable()) head_writer_.join();
}

bool Daemon::wait_until_not_running(std::unique_lock<std::mutex>& lock, const std::string& app_id) {
  // A run answers its client before its tree is gone, so a client that runs,
  // then updates, removes or runs the app again may arrive first. The
  // teardown takes milliseconds; the bound is for a kernel that takes longer.
  run_ended_.wait_for(lock, std::chrono::seconds(10), [&] {
    auto it = running_.find(app_id);
    return it == running_.end() || !it->second.app_exited;
  });
  return !running_.contains(app_id);
}

ControlResponse Daemon::logs(const std::string& app_id) {
  {
    std::lock_guard lock(mutex_);
    if (auto app = store_->find(app_id); !app) return refused("logs", app.error());
  }
  auto fd = open_file(log_path(app_id), O_RDONLY);
  if (!fd) return fd.error().errno_code() == ENOENT ? ok("") : refused("logs", fd.error());
  // The last kMaxLogReply bytes: enough to read, bounded for the frame.
  off_t size = ::lseek(fd->get(), 0, SEEK_END);
  off_t start = size > static_cast<off_t>(kMaxLogReply) ? size - static_cast<off_t>(kMaxLogReply) : 0;
  std::string text(static_cast<std::size_t>(size - start), '\0');
  ssize_t n = ::pread(fd->get(), text.data(), text.size(), start);
  if (n < 0) return refused("logs", Error::system("read", errno));
  text.resize(static_cast<std::size_t>(n));
  return ok(text);
}

ControlResponse Daemon::run_app(const std::string& app_id, const Reply& reply) {
  device::InstalledApp app;
  device::Grants grants;
  std::optional<Prepared> prepared;
  std::uint64_t changes = 0;
  {
    std::unique_lock lock(mutex_);
    // Run again at once, the previous run's tree may still be going away, and
    // then the next sandbox is prepared: both are over sooner than a new
    // sandbox would be made.
    if (!wait_until_not_running(lock, app_id))
      return refused("run", Error::invalid_argument("the app is already running"));
    prepared_changed_.wait_for(lock, std::chrono::seconds(1), [&] {
      return preparing_ != app_id && std::find(to_prepare_.begin(), to_prepare_.end(), app_id) == to_prepare_.end();
    });
    if (stopping_) return refused("run", Error::invalid_argument("pmosd is stopping"));
    auto found = store_->find(app_id);
    if (!found) return refused("run", found.error());
    if (running_.contains(app_id)) return refused("run", Error::invalid_argument("the app is already running"));
    app = std::move(*found);
    changes = store_changes_;
    // From the standard in force now: a tightened standard applies at once.
    grants = device::compute_grants(app.manifest, store_->standard());
    running_[app_id] = Running{};
    if (auto it = prepared_.find(app_id); it != prepared_.end()) {
      if (it->second.digest == app.digest) prepared = std::move(it->second);
      prepared_.erase(it);
    }
  }
  // Every way out: the app is no longer running, and its next sandbox is
  // made (unless this one was recycled for it).
  auto finish = [&](ControlResponse response, bool recycled = false) {
    std::lock_guard lock(mutex_);
    running_.erase(app_id);
    run_ended_.notify_all();
    if (!recycled) want_prepared(app_id);
    return response;
  };

  // Confined and parked, the app not yet started: prepared ahead, or now.
  UniqueFd broker_end;
  std::unique_ptr<sandbox::Sandbox> box;
  std::unique_ptr<BrokerThread> broker;  // after broker_end: destroyed first
  if (prepared) {
    broker_end = std::move(prepared->broker_end);
    box = std::move(prepared->box);
    broker = std::move(prepared->broker);
  } else {
    // The spec's copies of the app's descriptors close at the end of this
    // block: the broker must see EOF when the app is gone.
    auto spec = app_spec(app, broker_end);
    if (!spec) return finish(refused("run", spec.error()));
    auto made = launch_pool_ ? launch_pool_->prepare(*spec) : sandbox::Sandbox::prepare(*spec);
    if (!made) {
      (void)audit_->append(device::AuditEvent::kDenial, app_id, "launch failed: " + made.error().to_string());
      return finish(refused("run", made.error()));
    }
    box = std::move(*made);
  }
  {
    std::lock_guard lock(mutex_);
    running_[app_id].box = box.get();
    if (stopping_) (void)box->kill();
  }
  // The broker serves before the app runs. Its thread came with the prepared
  // sandbox; for one made now it is made now.
  if (!broker) broker = std::make_unique<BrokerThread>(app_id, *audit_, broker_end.get());
  std::string granted = describe(grants);
  broker->serve(std::move(grants));
  auto stop_broker = [&] { broker.reset(); };

  // The launch is in the log, durably, before anything of the app runs: an
  // app that ran unrecorded is what the log exists to rule out. So an entry
  // that cannot be written means no launch. The signed head is rewritten
  // later (it only bounds how much of the tail could be cut unnoticed; an
  // entry past it verifies on its own): once after the answer for both
  // entries, or kHeadDelay after the start if the app runs longer.
  auto logged = audit_->append(device::AuditEvent::kLaunch, app_id,
                               "version " + std::to_string(app.manifest.version_code) + ", reaper pid " +
                                   std::to_string(box->pid()) +
                                   (prepared ? " (prepared)" : "") +
                                   (box->launches() > 0 ? " in a recycled sandbox, its launch " +
                                                              std::to_string(box->launches() + 1)
                                                        : "") +
                                   ", " +
                                   describe(box->isolation()) + "; grants " + granted,
                               device::AuditLog::Head::kLater);
  auto started = logged.has_value() ? box->start() : ErrorOr<void>(logged.error());
  if (!started) {
    update_audit_head();
    (void)audit_->append(device::AuditEvent::kDenial, app_id, "launch failed: " + started.error().to_string());
    (void)box->kill();  // start() has done this if it failed itself
    (void)box->wait();
    stop_broker();
    return finish(refused("run", started.error()));
  }

  // The app's status arrives before the reaper's exit tears the namespaces
  // down: the client is answered then, with the exit entry already in the log
  // (so that `pmos audit show` right after `run` shows it), and the signed
  // head after the answer.
  auto early = box->wait_app_for(kHeadDelay);
  ErrorOr<sandbox::ExitStatus> status = Error::internal("unset");
  if (!early) {
    status = early.error();
  } else if (*early) {
    status = **early;
  } else {
    want_audit_head();
    status = box->wait_app();
  }
  ControlResponse response;
  if (!status) {
    (void)audit_->append(device::AuditEvent::kExit, app_id, "lost: " + status.error().to_string(),
                         device::AuditLog::Head::kLater);
    response = refused("run", status.error());
  } else {
    std::string how = status->kind == sandbox::ExitStatus::Kind::kExited
                          ? "exited with code " + std::to_string(status->code)
                          : "killed by signal " + std::to_string(status->code);
    if (status->memory_limit_hit) how += " (memory limit hit)";
    (void)audit_->append(device::AuditEvent::kExit, app_id, how, device::AuditLog::Head::kLater);
    response = ok(app_id + " " + how + "\n", static_cast<std::uint32_t>(status->shell_code()));
  }
  {
    std::lock_guard lock(mutex_);
    running_[app_id].app_exited = true;
  }
  reply(response);
  want_audit_head();

  // A sandbox that ended normally (its reaper reported the status, having
  // killed everything else of the app first) is reset for the next launch;
  // one whose app hit its memory limit is not: the OOM killer may have hit
  // the reaper too. Otherwise the app's other processes die with the reaper;
  // until it is reaped the app still counts as running (no new run, update
  // or removal meanwhile).
  bool recycled = status && !status->memory_limit_hit && recycle(app, box, changes);
  if (!recycled) (void)box->wait();
  // The app's end closed with its sandbox (or with its last process).
  stop_broker();
  return finish(response, recycled);  // `box`, reaped or moved, is destroyed after its entry is gone
}

}  // namespace pmos::pmosd

#include "daemon.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>

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
  for (Worker& worker : workers_)
    if (worker.thread.joinable()) worker.thread.join();
  stop_preparing();
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
    return sandbox::Sandbox::prepare(spec);  // the parked reaper holds the app's descriptors now
  }();
  if (box) {
    prepared = Prepared{std::move(*box), std::move(broker_end), app.digest};
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

ErrorOr<sandbox::SandboxSpec> Daemon::app_spec(const device::InstalledApp& app, UniqueFd& broker_end) {
  const std::string& app_id = app.app_id();
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return Error::system("socketpair", errno);
  broker_end = UniqueFd(pair[0]);
  UniqueFd app_end(pair[1]);
  UniqueFd log(::open(log_path(app_id).c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!log) return Error::system("open log", errno);

  sandbox::SandboxSpec spec;
  spec.app_id = app_id;
  spec.package_dir = store_->package_dir(app_id);
  spec.data_dir = store_->data_dir(app_id);
  spec.argv = {"/app/" + app.manifest.entry_point};
  spec.env = {"PATH=/usr/bin:/bin", "HOME=/data", "PMOS_APP_ID=" + app_id, "PMOS_BROKER_FD=3"};
  spec.cwd = "/data";
  spec.stdio[1] = UniqueFd(::fcntl(log.get(), F_DUPFD_CLOEXEC, 3));
  spec.stdio[2] = UniqueFd(::fcntl(log.get(), F_DUPFD_CLOEXEC, 3));
  spec.fds.push_back(std::move(app_end));
  if (::geteuid() == 0) spec.host_uid = app.host_uid;
  spec.policy = config_.policy;
  return spec;
}

ErrorOr<void> Daemon::run(int signal_fd) {
  std::printf("pmosd: listening on %s\n", config_.socket_path.c_str());
  std::fflush(stdout);
  for (;;) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {signal_fd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return Error::system("poll", errno);
    }
    if (fds[1].revents != 0) break;
    // Finished connection threads are joined here, so they do not pile up.
    std::erase_if(workers_, [](Worker& w) {
      if (!w.done->load()) return false;
      w.thread.join();
      return true;
    });
    UniqueFd connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!connection) continue;
    // A client that connects and never sends would hold its thread (and
    // shutdown) forever; `run` replies late, but only the send waits for it.
    timeval timeout{10, 0};
    (void)::setsockopt(connection.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    auto done = std::make_shared<std::atomic<bool>>(false);
    workers_.push_back({std::thread([this, done, c = std::move(connection)]() mutable {
                          serve_connection(std::move(c));
                          done->store(true);
                        }),
                        done});
  }
  std::printf("pmosd: stopping\n");
  stopping_ = true;
  {
    std::lock_guard lock(mutex_);
    for (auto& [app_id, sandbox] : running_)
      if (sandbox) (void)sandbox->kill();
  }
  for (Worker& worker : workers_) worker.thread.join();
  workers_.clear();
  stop_preparing();
  return audit_->append(device::AuditEvent::kSystem, "", "pmosd stopped");
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
  ControlResponse response;
  auto request = device::decode_control_request(*body);
  if (!request) {
    response = refused("bad request", request.error());
  } else {
    response = dispatch(*request, std::move(passed));
  }
  (void)device::send_frame(connection.get(), tls::encode(response));
  if (request && request->op == device::ControlOp::kRun) {
    // The next run's sandbox, made once this one is answered.
    std::lock_guard lock(mutex_);
    want_prepared(request->app_id);
  }
}

ControlResponse Daemon::dispatch(const device::ControlRequest& request, UniqueFd passed) {
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
      return run_app(request.app_id);
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
  std::lock_guard lock(mutex_);
  // Replacing the files of a running app would pull them from under it.
  if (auto decoded = pkg::decode_package(*bytes); decoded && running_.contains(decoded->manifest().app_id))
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
  std::lock_guard lock(mutex_);
  if (running_.contains(app_id)) return refused("remove", Error::invalid_argument("the app is running; stop it first"));
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
  if (it == running_.end() || it->second == nullptr)
    return refused("stop", Error::invalid_argument("the app is not running"));
  if (auto r = it->second->kill(); !r) return refused("stop", r.error());
  // The exit itself is audited by the thread that waits for the app.
  return ok("stopped " + app_id + "\n");
}

std::string Daemon::log_path(const std::string& app_id) const {
  return config_.state_dir + "/logs/" + app_id + ".log";
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

ControlResponse Daemon::run_app(const std::string& app_id) {
  device::InstalledApp app;
  device::Grants grants;
  std::optional<Prepared> prepared;
  {
    std::unique_lock lock(mutex_);
    // Launched again at once, the app's next sandbox may be under way: it is
    // ready sooner than a new one would be.
    prepared_changed_.wait_for(lock, std::chrono::seconds(1), [&] { return preparing_ != app_id; });
    if (stopping_) return refused("run", Error::invalid_argument("pmosd is stopping"));
    auto found = store_->find(app_id);
    if (!found) return refused("run", found.error());
    if (running_.contains(app_id)) return refused("run", Error::invalid_argument("the app is already running"));
    app = std::move(*found);
    // From the standard in force now: a tightened standard applies at once.
    grants = device::compute_grants(app.manifest, store_->standard());
    running_[app_id] = nullptr;
    if (auto it = prepared_.find(app_id); it != prepared_.end()) {
      if (it->second.digest == app.digest) prepared = std::move(it->second);
      prepared_.erase(it);
    }
  }
  auto finish = [&](ControlResponse response) {
    std::lock_guard lock(mutex_);
    running_.erase(app_id);
    return response;
  };

  UniqueFd broker_end;
  ErrorOr<std::unique_ptr<sandbox::Sandbox>> launched = Error::internal("not launched");
  if (prepared) {
    broker_end = std::move(prepared->broker_end);
    if (auto started = prepared->box->start(); started.has_value()) launched = std::move(prepared->box);
    else launched = started.error();
  } else {
    // The spec's copies of the app's descriptors close at the end of this
    // block: the broker must see EOF when the app is gone.
    auto spec = app_spec(app, broker_end);
    if (!spec) return finish(refused("run", spec.error()));
    launched = launch_pool_ ? launch_pool_->launch(*spec) : sandbox::Sandbox::launch(*spec);
  }
  if (!launched) {
    (void)audit_->append(device::AuditEvent::kDenial, app_id, "launch failed: " + launched.error().to_string());
    return finish(refused("run", launched.error()));
  }
  std::unique_ptr<sandbox::Sandbox> box = std::move(*launched);
  {
    std::lock_guard lock(mutex_);
    running_[app_id] = box.get();
    if (stopping_) (void)box->kill();
  }
  (void)audit_->append(device::AuditEvent::kLaunch, app_id,
                       "version " + std::to_string(app.manifest.version_code) + ", reaper pid " +
                           std::to_string(box->pid()) + (prepared ? " (prepared)" : "") + ", " +
                           describe(box->isolation()) + "; grants " + describe(grants));

  device::Broker broker(app_id, std::move(grants), *audit_, {});
  std::thread broker_thread([&] {
    if (auto served = broker.serve(broker_end.get()); !served)
      std::fprintf(stderr, "pmosd: broker of %s: %s\n", app_id.c_str(), served.error().to_string().c_str());
  });
  auto status = box->wait();
  // The app's end closed with its sandbox; shutdown() covers a broker blocked
  // in a send to an app that is gone.
  ::shutdown(broker_end.get(), SHUT_RDWR);
  broker_thread.join();
  {
    std::lock_guard lock(mutex_);
    running_.erase(app_id);
  }
  box.reset();
  if (!status) {
    (void)audit_->append(device::AuditEvent::kExit, app_id, "lost: " + status.error().to_string());
    return refused("run", status.error());
  }
  std::string how = status->kind == sandbox::ExitStatus::Kind::kExited
                        ? "exited with code " + std::to_string(status->code)
                        : "killed by signal " + std::to_string(status->code);
  if (status->memory_limit_hit) how += " (memory limit hit)";
  (void)audit_->append(device::AuditEvent::kExit, app_id, how);
  return ok(app_id + " " + how + "\n", static_cast<std::uint32_t>(status->shell_code()));
}

}  // namespace pmos::pmosd

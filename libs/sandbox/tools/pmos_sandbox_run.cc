// pmos-sandbox-run: runs one command in a default PMOS sandbox. For developers
// and for measuring launch time:
//   hyperfine -N 'pmos-sandbox-run -- /bin/true'
// Exit status: the command's, or 128 + signal; 125 if the sandbox could not start.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "pmos/sandbox/probe.h"
#include "pmos/sandbox/sandbox.h"

namespace {

constexpr int kSetupFailed = 125;

void usage() {
  std::fputs(
      "usage: pmos-sandbox-run [options] -- COMMAND [ARGS...]\n"
      "       pmos-sandbox-run --probe\n"
      "  --app-id ID        app id (hostname, cgroup name); default pmos.run\n"
      "  --package DIR      mounted read-only at /app\n"
      "  --data DIR         mounted read-write at /data\n"
      "  --ro PATH          extra host path, read-only at the same path (repeatable)\n"
      "  --cwd DIR          working directory inside (default /)\n"
      "  --env NAME=VALUE   environment (repeatable; default PATH and HOME only)\n"
      "  --memory BYTES     memory limit (default 256 MiB)\n"
      "  --pids N           process limit (default 64)\n"
      "  --uid UID          host uid of the app (default: yours; 65534 when run as root)\n"
      "  --gid GID          host gid of the app\n"
      "  --fd N             pass descriptor N (becomes 3, 4, ... in order)\n"
      "  --best-effort      use Landlock, seccomp and cgroups only where available\n"
      "  --no-cgroup        no memory and pids limits (to measure what they cost)\n"
      "  --probe            print what the kernel offers and exit\n"
      "  --pool N           launch through a LaunchPool of N parked stubs (cgroup v1)\n"
      "  --repeat R         launch R times in this process and print the median\n"
      "                     launch-to-exit time (for measuring the pool)\n"
      "  --interval-ms M    with --repeat: pause M ms between launches\n"
      "  --prepared         with --repeat: prepare each sandbox during the pause\n"
      "  --recycled         with --repeat: one sandbox for all launches, reset after\n"
      "                     each (SandboxSpec::recyclable, Sandbox::recycle)\n"
      "                     (Sandbox::prepare) and time start() only\n",
      stderr);
}

// A copy for one more launch: the descriptors duplicated, the rest as is.
pmos::sandbox::SandboxSpec copy_spec(const pmos::sandbox::SandboxSpec& from) {
  pmos::sandbox::SandboxSpec to;
  to.app_id = from.app_id;
  to.package_dir = from.package_dir;
  to.data_dir = from.data_dir;
  to.argv = from.argv;
  to.env = from.env;
  to.extra_ro_paths = from.extra_ro_paths;
  to.cwd = from.cwd;
  to.memory_limit_bytes = from.memory_limit_bytes;
  to.pids_limit = from.pids_limit;
  for (int i = 0; i < 3; ++i)
    if (from.stdio[i]) to.stdio[i] = pmos::UniqueFd(fcntl(from.stdio[i].get(), F_DUPFD_CLOEXEC, 3));
  for (const pmos::UniqueFd& fd : from.fds) to.fds.emplace_back(fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
  to.host_uid = from.host_uid;
  to.host_gid = from.host_gid;
  to.cgroup_parent = from.cgroup_parent;
  to.policy = from.policy;
  return to;
}

template <typename T>
bool parse_number(std::string_view text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace pmos::sandbox;
  SandboxSpec spec;
  spec.app_id = "pmos.run";
  bool env_given = false;
  std::size_t pool_size = 0;
  unsigned repeat = 0;
  bool prepared = false;
  bool recycled = false;
  unsigned interval_ms = 0;
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "pmos-sandbox-run: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--") {
      ++i;
      break;
    } else if (arg == "--probe") {
      std::fputs(to_string(probe()).c_str(), stdout);
      return 0;
    } else if (arg == "--app-id") {
      spec.app_id = value();
    } else if (arg == "--package") {
      spec.package_dir = value();
    } else if (arg == "--data") {
      spec.data_dir = value();
    } else if (arg == "--ro") {
      spec.extra_ro_paths.emplace_back(value());
    } else if (arg == "--cwd") {
      spec.cwd = value();
    } else if (arg == "--env") {
      spec.env.emplace_back(value());
      env_given = true;
    } else if (arg == "--memory") {
      if (!parse_number(value(), spec.memory_limit_bytes)) return usage(), 2;
    } else if (arg == "--pids") {
      if (!parse_number(value(), spec.pids_limit)) return usage(), 2;
    } else if (arg == "--uid") {
      uid_t uid;
      if (!parse_number(value(), uid)) return usage(), 2;
      spec.host_uid = uid;
    } else if (arg == "--gid") {
      gid_t gid;
      if (!parse_number(value(), gid)) return usage(), 2;
      spec.host_gid = gid;
    } else if (arg == "--fd") {
      int fd;
      if (!parse_number(value(), fd)) return usage(), 2;
      int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
      if (copy < 0) {
        std::fprintf(stderr, "pmos-sandbox-run: descriptor %d is not open\n", fd);
        return 2;
      }
      spec.fds.emplace_back(copy);
    } else if (arg == "--best-effort") {
      spec.policy.landlock = Requirement::kIfAvailable;
      spec.policy.seccomp = Requirement::kIfAvailable;
      spec.policy.cgroup_limits = Requirement::kIfAvailable;
    } else if (arg == "--pool") {
      if (!parse_number(value(), pool_size) || pool_size == 0) return usage(), 2;
    } else if (arg == "--prepared") {
      prepared = true;
    } else if (arg == "--recycled") {
      recycled = true;
    } else if (arg == "--repeat") {
      if (!parse_number(value(), repeat) || repeat == 0) return usage(), 2;
    } else if (arg == "--interval-ms") {
      if (!parse_number(value(), interval_ms)) return usage(), 2;
    } else if (arg == "--no-cgroup") {
      spec.policy.cgroup_limits = Requirement::kOff;
    } else {
      usage();
      return 2;
    }
  }
  if (i >= argc) {
    usage();
    return 2;
  }
  for (; i < argc; ++i) spec.argv.emplace_back(argv[i]);
  if (!env_given) {
    spec.env = {"PATH=/usr/local/bin:/usr/bin:/bin", spec.data_dir.empty() ? "HOME=/tmp" : "HOME=/data"};
    if (const char* term = std::getenv("TERM")) spec.env.push_back(std::string("TERM=") + term);
  }
  // An app never runs as host root; nobody is the development default.
  if (!spec.host_uid && geteuid() == 0) spec.host_uid = 65534;
  for (int fd = 0; fd < 3; ++fd) spec.stdio[fd] = pmos::UniqueFd(fcntl(fd, F_DUPFD_CLOEXEC, 3));

  std::unique_ptr<LaunchPool> pool;
  if (pool_size > 0) {
    auto made = LaunchPool::create(pool_size);
    if (!made.has_value()) {
      std::fprintf(stderr, "pmos-sandbox-run: %s\n", made.error().to_string().c_str());
      return kSetupFailed;
    }
    pool = std::move(*made);
  }
  if (repeat > 0 && recycled) {
    SandboxSpec first = copy_spec(spec);
    first.recyclable = true;
    auto box = Sandbox::prepare(first);
    if (!box.has_value()) {
      std::fprintf(stderr, "pmos-sandbox-run: %s\n", box.error().to_string().c_str());
      return kSetupFailed;
    }
    std::vector<double> started;  // start() returned: the app has been exec'd
    std::vector<double> times;    // its status reported (everything else of it killed)
    std::vector<double> resets;   // recycle() returned: parked for the next launch
    for (unsigned n = 0; n < repeat; ++n) {
      if (interval_ms) std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
      auto start = std::chrono::steady_clock::now();
      auto began = (*box)->start();
      auto exec = std::chrono::steady_clock::now();
      auto status = began.has_value() ? (*box)->wait_app() : pmos::ErrorOr<pmos::sandbox::ExitStatus>(began.error());
      auto end = std::chrono::steady_clock::now();
      if (!status.has_value() || status->shell_code() != 0) {
        std::fprintf(stderr, "pmos-sandbox-run: the command failed%s\n",
                     status.has_value() ? "" : (": " + status.error().to_string()).c_str());
        return kSetupFailed;
      }
      SandboxSpec next = copy_spec(spec);
      auto reset = (*box)->recycle(std::move(next.stdio), std::move(next.fds), std::chrono::seconds(1));
      auto parked = std::chrono::steady_clock::now();
      if (!reset.has_value()) {
        std::fprintf(stderr, "pmos-sandbox-run: %s\n", reset.error().to_string().c_str());
        return kSetupFailed;
      }
      started.push_back(std::chrono::duration<double, std::milli>(exec - start).count());
      times.push_back(std::chrono::duration<double, std::milli>(end - start).count());
      resets.push_back(std::chrono::duration<double, std::milli>(parked - end).count());
    }
    for (auto* v : {&started, &times, &resets}) std::sort(v->begin(), v->end());
    std::printf("%u launches in one recycled sandbox: to exec: median %.2f ms, min %.2f ms; to exit: median %.2f ms, "
                "min %.2f ms; reset: median %.2f ms\n",
                repeat, started[started.size() / 2], started.front(), times[times.size() / 2], times.front(),
                resets[resets.size() / 2]);
    return 0;
  }
  if (repeat > 0) {
    std::vector<double> times;
    std::vector<double> started;   // launch() returned: the app has been exec'd
    std::vector<double> finished;  // wait() returned: the sandbox is gone
    for (unsigned n = 0; n < repeat; ++n) {
      // Like a phone: apps start a while apart, and the pool has refilled.
      if (interval_ms) std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
      if (pool && !pool->wait_until_full(std::chrono::seconds(10)))
        std::fputs("pmos-sandbox-run: the pool did not refill in 10 s\n", stderr);
      SandboxSpec one = copy_spec(spec);
      pmos::ErrorOr<std::unique_ptr<Sandbox>> launched = pmos::Error::internal("not launched");
      if (prepared) {
        launched = Sandbox::prepare(one);
        // The prepared sandbox waits as it would on a phone until an app is started.
        if (interval_ms) std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
      }
      auto start = std::chrono::steady_clock::now();
      if (prepared) {
        if (launched.has_value()) {
          if (auto began = (*launched)->start(); !began.has_value()) launched = began.error();
        }
      } else {
        launched = pool ? pool->launch(one) : Sandbox::launch(one);
      }
      if (!launched.has_value()) {
        std::fprintf(stderr, "pmos-sandbox-run: %s\n", launched.error().to_string().c_str());
        return kSetupFailed;
      }
      auto exec = std::chrono::steady_clock::now();
      // The app's exit (its status reported), then the whole tree gone.
      auto status = (*launched)->wait_app();
      auto end = std::chrono::steady_clock::now();
      auto whole = (*launched)->wait();
      auto gone = std::chrono::steady_clock::now();
      if (!status.has_value() || status->shell_code() != 0 || !whole.has_value()) {
        std::fputs("pmos-sandbox-run: the command failed\n", stderr);
        return kSetupFailed;
      }
      times.push_back(std::chrono::duration<double, std::milli>(end - start).count());
      started.push_back(std::chrono::duration<double, std::milli>(exec - start).count());
      finished.push_back(std::chrono::duration<double, std::milli>(gone - start).count());
    }
    std::sort(times.begin(), times.end());
    std::sort(started.begin(), started.end());
    std::sort(finished.begin(), finished.end());
    std::printf("%u launches%s: to exec: median %.2f ms, min %.2f ms; to exit: median %.2f ms, min %.2f ms; "
                "tree gone: median %.2f ms\n",
                repeat, prepared ? " prepared ahead" : pool ? " through the pool" : "", started[started.size() / 2], started.front(),
                times[times.size() / 2], times.front(), finished[finished.size() / 2]);
    return 0;
  }

  auto sandbox = pool ? pool->launch(spec) : Sandbox::launch(spec);
  if (!sandbox.has_value()) {
    std::fprintf(stderr, "pmos-sandbox-run: %s\n", sandbox.error().to_string().c_str());
    return kSetupFailed;
  }
  // Our copies of the app's descriptors are not needed any more.
  spec.stdio = {};
  spec.fds.clear();
  auto status = (*sandbox)->wait();
  if (!status.has_value()) {
    std::fprintf(stderr, "pmos-sandbox-run: %s\n", status.error().to_string().c_str());
    return kSetupFailed;
  }
  if (status->memory_limit_hit) std::fputs("pmos-sandbox-run: the memory limit was hit\n", stderr);
  return status->shell_code();
}

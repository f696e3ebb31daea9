#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

namespace pmos::sandbox::detail {
namespace {

ErrorOr<std::string> read_small_file(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::system("cgroup: open", errno);
  std::string text;
  char buffer[4096];
  for (;;) {
    ssize_t n = read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::system("cgroup: read", errno);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  return text;
}

ErrorOr<void> write_file(const std::string& path, std::string_view value) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return Error::system("cgroup: cannot open a control file", errno);
  if (write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size()))
    return Error::system("cgroup: the kernel refused a control-file value", errno);
  return {};
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(separator, start);
    if (end == std::string_view::npos) end = text.size();
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

bool has_word(std::string_view list, std::string_view word, char separator) {
  for (std::string_view w : split(list, separator))
    if (w == word) return true;
  return false;
}

struct Mount {
  std::string root;        // which part of the hierarchy is mounted
  std::string mountpoint;
};

// The directory of `own_path` (from /proc/self/cgroup) under `mount`, or empty
// when that part of the hierarchy is not visible here.
std::string join(const Mount& mount, std::string_view own_path) {
  std::string_view root = mount.root;
  if (root != "/") {
    if (own_path.substr(0, root.size()) != root) return {};
    own_path.remove_prefix(root.size());
  }
  std::string dir = mount.mountpoint;
  if (!own_path.empty() && own_path != "/") dir += own_path;
  return dir;
}

}  // namespace

ErrorOr<CgroupParent> find_cgroup_parent(std::string_view v2_override) {
  CgroupParent parent;
  auto check_v2 = [](const std::string& dir) -> ErrorOr<void> {
    auto controllers = read_small_file(dir + "/cgroup.controllers");
    if (!controllers.has_value()) return controllers.error();
    // On hybrid systems the unified hierarchy exists but memory and pids stay on v1.
    std::string_view list = *controllers;
    while (!list.empty() && list.back() == '\n') list.remove_suffix(1);
    if (!has_word(list, "memory", ' ') || !has_word(list, "pids", ' '))
      return Error::unsupported("cgroup: the v2 hierarchy has no memory and pids controllers here");
    return {};
  };
  if (!v2_override.empty()) {
    parent.version = CgroupVersion::kV2;
    parent.v2_dir = std::string(v2_override);
    TRY(check_v2(parent.v2_dir));
    return parent;
  }

  std::string mountinfo = TRY(read_small_file("/proc/self/mountinfo"));
  Mount v2, memory, pids;
  for (std::string_view line : split(mountinfo, '\n')) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    std::size_t dash = line.find(" - ");
    if (dash == std::string_view::npos) continue;
    std::vector<std::string_view> head = split(line.substr(0, dash), ' ');
    std::vector<std::string_view> tail = split(line.substr(dash + 3), ' ');
    if (head.size() < 5 || tail.size() < 3) continue;
    Mount m{std::string(head[3]), std::string(head[4])};
    if (tail[0] == "cgroup2" && v2.mountpoint.empty()) v2 = m;
    if (tail[0] == "cgroup" && has_word(tail[2], "memory", ',') && memory.mountpoint.empty()) memory = m;
    if (tail[0] == "cgroup" && has_word(tail[2], "pids", ',') && pids.mountpoint.empty()) pids = m;
  }

  std::string self = TRY(read_small_file("/proc/self/cgroup"));
  std::string v2_path, memory_path, pids_path;
  for (std::string_view line : split(self, '\n')) {
    // hierarchy-id:controllers:path
    std::size_t first = line.find(':');
    std::size_t second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    std::string_view controllers = line.substr(first + 1, second - first - 1);
    std::string_view path = line.substr(second + 1);
    if (line.substr(0, first) == "0" && controllers.empty()) v2_path = path;
    if (has_word(controllers, "memory", ',')) memory_path = path;
    if (has_word(controllers, "pids", ',')) pids_path = path;
  }

  if (!v2.mountpoint.empty() && !v2_path.empty()) {
    std::string dir = join(v2, v2_path);
    if (!dir.empty() && check_v2(dir).has_value()) {
      parent.version = CgroupVersion::kV2;
      parent.v2_dir = dir;
      return parent;
    }
  }
  if (!memory.mountpoint.empty() && !pids.mountpoint.empty() && !memory_path.empty() &&
      !pids_path.empty()) {
    parent.memory_dir = join(memory, memory_path);
    parent.pids_dir = join(pids, pids_path);
    if (!parent.memory_dir.empty() && !parent.pids_dir.empty()) {
      parent.version = CgroupVersion::kV1;
      return parent;
    }
  }
  return Error::unsupported("cgroup: no hierarchy with the memory and pids controllers");
}

ErrorOr<std::unique_ptr<Cgroup>> Cgroup::create(const CgroupParent& parent, std::string_view name,
                                                std::uint64_t memory_limit_bytes,
                                                std::uint32_t pids_limit) {
  std::string memory = std::to_string(memory_limit_bytes);
  std::string pids = std::to_string(pids_limit);

  if (parent.version == CgroupVersion::kV2) {
    // Controllers must be enabled for the children of `parent`. The kernel
    // refuses that (EBUSY) while the parent itself holds processes, except at
    // the root: pmosd runs in a delegated cgroup and keeps itself in a leaf.
    std::string subtree = TRY(read_small_file(parent.v2_dir + "/cgroup.subtree_control"));
    while (!subtree.empty() && subtree.back() == '\n') subtree.pop_back();
    if (!has_word(subtree, "memory", ' ') || !has_word(subtree, "pids", ' ')) {
      auto enabled = write_file(parent.v2_dir + "/cgroup.subtree_control", "+memory +pids");
      if (!enabled.has_value()) {
        if (enabled.error().errno_code() == EBUSY)
          return Error::system("cgroup: the parent cgroup holds processes, so it cannot delegate "
                               "memory and pids; give a cgroup_parent without processes",
                               EBUSY);
        return enabled.error();
      }
    }
    std::string dir = parent.v2_dir + "/" + std::string(name);
    if (mkdir(dir.c_str(), 0755) != 0) return Error::system("cgroup: cannot create the app cgroup", errno);
    // From here the destructor removes the directory if a limit fails.
    UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) {
      int saved = errno;
      rmdir(dir.c_str());
      return Error::system("cgroup: open", saved);
    }
    std::unique_ptr<Cgroup> cgroup(new Cgroup(CgroupVersion::kV2, dir, {}, std::move(fd)));
    TRY(write_file(dir + "/memory.max", memory));
    // Swap would let the app exceed its memory limit at the cost of the whole phone.
    (void)write_file(dir + "/memory.swap.max", "0");  // absent without swap accounting
    // An out-of-memory kill takes the whole sandbox: half an app is worse than none.
    (void)write_file(dir + "/memory.oom.group", "1");
    TRY(write_file(dir + "/pids.max", pids));
    return cgroup;
  }

  if (parent.version == CgroupVersion::kV1) {
    std::unique_ptr<Cgroup> cgroup = TRY(create_unlimited(parent, name));
    TRY(cgroup->set_limits(memory_limit_bytes, pids_limit));
    return cgroup;
  }
  return Error::unsupported("cgroup: no usable hierarchy");
}

ErrorOr<std::unique_ptr<Cgroup>> Cgroup::create_unlimited(const CgroupParent& parent, std::string_view name) {
  if (parent.version != CgroupVersion::kV1) return Error::unsupported("cgroup: not a cgroup v1 parent");
  std::string memory_dir = parent.memory_dir + "/" + std::string(name);
  std::string pids_dir = parent.pids_dir + "/" + std::string(name);
  if (mkdir(memory_dir.c_str(), 0755) != 0)
    return Error::system("cgroup: cannot create the app's memory cgroup", errno);
  if (mkdir(pids_dir.c_str(), 0755) != 0) {
    int saved = errno;
    rmdir(memory_dir.c_str());
    return Error::system("cgroup: cannot create the app's pids cgroup", saved);
  }
  return std::unique_ptr<Cgroup>(new Cgroup(CgroupVersion::kV1, memory_dir, pids_dir, UniqueFd()));
}

ErrorOr<void> Cgroup::set_limits(std::uint64_t memory_limit_bytes, std::uint32_t pids_limit) {
  if (version_ != CgroupVersion::kV1) return Error::unsupported("cgroup: set_limits is for v1 cgroups");
  // The memory+swap limit must never be below the memory limit, so with
  // swap accounting the order matters: memory first (memsw is unlimited or
  // higher), then memory+swap.
  std::string memory = std::to_string(memory_limit_bytes);
  TRY(write_file(first_dir_ + "/memory.limit_in_bytes", memory));
  // Memory plus swap, where swap accounting exists: same reason as memory.swap.max.
  (void)write_file(first_dir_ + "/memory.memsw.limit_in_bytes", memory);
  TRY(write_file(second_dir_ + "/pids.max", std::to_string(pids_limit)));
  return {};
}

ErrorOr<void> Cgroup::attach(pid_t pid) {
  if (version_ != CgroupVersion::kV1) return {};
  std::string text = std::to_string(pid);
  TRY(write_file(first_dir_ + "/cgroup.procs", text));
  TRY(write_file(second_dir_ + "/cgroup.procs", text));
  return {};
}

ErrorOr<std::array<UniqueFd, 2>> Cgroup::open_tasks_files() const {
  if (version_ != CgroupVersion::kV1) return Error::unsupported("cgroup: tasks files are for v1 cgroups");
  std::array<UniqueFd, 2> files;
  const std::string* dirs[2] = {&first_dir_, &second_dir_};
  for (int i = 0; i < 2; ++i) {
    files[i] = UniqueFd(open((*dirs[i] + "/tasks").c_str(), O_WRONLY | O_CLOEXEC));
    if (!files[i]) return Error::system("cgroup: cannot open the app cgroup's tasks file", errno);
  }
  return files;
}

std::uint64_t Cgroup::oom_kills() const {
  // v2 counts kills in memory.events, v1 in memory.oom_control; both "oom_kill N".
  std::string file = first_dir_ + (version_ == CgroupVersion::kV2 ? "/memory.events" : "/memory.oom_control");
  auto text = read_small_file(file);
  if (!text.has_value()) return 0;
  for (std::string_view line : split(*text, '\n')) {
    constexpr std::string_view kKey = "oom_kill ";
    if (line.substr(0, kKey.size()) != kKey) continue;
    std::uint64_t count = 0;
    std::from_chars(line.data() + kKey.size(), line.data() + line.size(), count);
    return count;
  }
  return 0;
}

namespace {

// The parent pid of `pid`, from /proc/PID/stat ("pid (comm) state ppid ...";
// comm may hold anything, so after its last ')').
pid_t parent_of(pid_t pid) {
  auto text = read_small_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text.has_value()) return -1;
  std::size_t close = text->rfind(')');
  if (close == std::string::npos || close + 4 >= text->size()) return -1;
  std::string_view rest = std::string_view(*text).substr(close + 4);  // ") S " then the ppid
  pid_t parent = -1;
  std::from_chars(rest.data(), rest.data() + rest.size(), parent);
  return parent;
}

}  // namespace

ErrorOr<void> Cgroup::expect_reaper_and_one_child(pid_t reaper) const {
  std::string pids_dir = version_ == CgroupVersion::kV1 ? second_dir_ : first_dir_;
  for (const std::string& dir : {first_dir_, second_dir_}) {
    if (dir.empty()) continue;
    std::string text = TRY(read_small_file(dir + "/cgroup.procs"));
    std::vector<pid_t> pids;
    for (std::string_view line : split(text, '\n')) {
      if (line.empty()) continue;
      pid_t pid = -1;
      auto [end, error] = std::from_chars(line.data(), line.data() + line.size(), pid);
      if (error != std::errc() || end != line.data() + line.size()) return Error::internal("cgroup: unreadable cgroup.procs");
      pids.push_back(pid);
    }
    bool has_reaper = false;
    bool has_child = false;
    for (pid_t pid : pids) {
      if (pid == reaper) has_reaper = true;
      else if (parent_of(pid) == reaper) has_child = true;
    }
    if (pids.size() != 2 || !has_reaper || !has_child)
      return Error::internal("cgroup: the sandbox holds other processes than its reaper and the next app's");
  }
  std::string current = TRY(read_small_file(pids_dir + "/pids.current"));
  if (current != "2\n") return Error::internal("cgroup: the sandbox holds more than two tasks");
  return {};
}

Cgroup::~Cgroup() {
  dir_fd_.reset();
  for (const std::string& dir : {first_dir_, second_dir_}) {
    if (dir.empty()) continue;
    // The last processes can take a moment to leave after the reaper is
    // reaped (longer on a busy machine): up to about two seconds.
    long pause_ns = 1'000'000;
    for (long waited_ns = 0; waited_ns < 2'000'000'000; waited_ns += pause_ns) {
      if (rmdir(dir.c_str()) == 0 || errno != EBUSY) break;
      if (waited_ns > 20'000'000) pause_ns = 20'000'000;
      timespec pause{0, pause_ns};
      nanosleep(&pause, nullptr);
    }
  }
}

}  // namespace pmos::sandbox::detail

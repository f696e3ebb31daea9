// The app of pmosd_test: runs inside a PMOS sandbox under pmosd (or `pmos
// sandbox run`) and exercises the broker through the header-only client.
// Reads "HOST ALLOWED_PORT DENIED_PORT MODE" from /app/endpoints.txt and
// prints one line per check; exits 0 only if every check came out as the
// sandbox promises ("linger" mode: then waits to be stopped; "sleep" mode:
// waits to be stopped before any of it; "orphan" mode:
// leaves a child behind that would run for minutes). Built without sanitizers: it runs where ptrace (LeakSanitizer) is
// forbidden, and it must stay a plain program like any vetted app.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "pmos/device/broker_client.h"

int main() {
  std::ifstream config("/app/endpoints.txt");
  std::string host;
  std::string mode;
  int allowed = 0, denied = 0;
  if (!(config >> host >> allowed >> denied >> mode)) {
    std::printf("cannot read /app/endpoints.txt\n");
    return 2;
  }
  if (mode == "sleep") {  // no broker request, so nothing but its launch is logged while it runs
    std::printf("sleeping\n");
    std::fflush(stdout);
    ::sleep(600);
  }
  const char* fd_text = std::getenv("PMOS_BROKER_FD");
  int broker = fd_text ? std::atoi(fd_text) : pmos::broker_client::kBrokerFd;
  bool good = true;

  std::string error;
  int fd = pmos::broker_client::connect(broker, host, static_cast<std::uint16_t>(allowed), &error);
  if (fd >= 0) {
    char buffer[64] = {};
    ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
    std::printf("allowed: %s\n", n > 0 ? buffer : "(nothing read)");
    good = good && n > 0;
    ::close(fd);
  } else {
    std::printf("allowed: refused: %s\n", error.c_str());
    good = false;
  }

  fd = pmos::broker_client::connect(broker, host, static_cast<std::uint16_t>(denied), &error);
  if (fd >= 0) {
    std::printf("denied: CONNECTED (must not happen)\n");
    ::close(fd);
    good = false;
  } else {
    std::printf("denied: %s\n", error.c_str());
  }

  // Around the broker: the sandbox's network namespace has only its own loopback.
  int direct = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(allowed));
  ::inet_pton(AF_INET, host.c_str(), &address.sin_addr);
  bool bypassed = direct >= 0 && ::connect(direct, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  std::printf("direct: %s\n", bypassed ? "CONNECTED (must not happen)" : "failed");
  good = good && !bypassed;

  bool notified = pmos::broker_client::notify(broker, "pmosd test", "hello from the sandbox", &error);
  std::printf("notify: %s\n", notified ? "delivered" : error.c_str());
  good = good && notified;
  std::fflush(stdout);
  if (mode == "linger") {
    std::printf("lingering\n");
    std::fflush(stdout);
    ::sleep(600);
  }
  if (mode == "orphan" && ::fork() == 0) {
    ::sleep(600);  // dies with the sandbox's reaper, when the main process exits
    ::_exit(0);
  }
  return good ? 0 : 3;
}

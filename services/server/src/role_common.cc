#include "role_common.h"

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "log.h"

namespace pmos::server::role {

int fail(std::string_view what, const Error& error) {
  std::fprintf(stderr, "pmos-server: %.*s: %s\n", static_cast<int>(what.size()), what.data(),
               error.to_string().c_str());
  return 1;
}

int usage_error(std::string_view message) {
  std::fprintf(stderr, "pmos-server: %.*s (see pmos-server --help)\n", static_cast<int>(message.size()),
               message.data());
  return 2;
}

bool refuse_unread(const Options& options) {
  std::vector<std::string> unread = options.unread();
  if (unread.empty()) return false;
  std::fprintf(stderr, "pmos-server %s: unknown option --%s\n", options.command().c_str(), unread.front().c_str());
  return true;
}

store::DatabaseConfig database(const DataDir& dir, const Options& options, const std::string& setting,
                               const std::string& file) {
  const std::string flag = options.get_or(setting, "");
  if (!flag.empty()) return database_config(dir, flag);
  store::DatabaseConfig config;
  config.location = dir.path + "/" + file;
  return config;
}

namespace {
sigset_t role_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  return signals;
}
}  // namespace

void block_signals() {
  sigset_t signals = role_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

ErrorOr<std::unique_ptr<net::Server>> listen(const DataDir& dir, const ListenAddress& address, net::Router router,
                                             int threads, std::string_view role) {
  if (!std::filesystem::exists(dir.server_cert()))
    return Error::not_found("no server certificate in the data directory; run `pmos-server init` first");
  net::ServerConfig config;
  config.bind_address = address.host;
  config.port = address.port;
  config.threads = threads;
  config.tls.certificate_chain = net::PemSource::file(dir.server_cert());
  config.tls.private_key = net::PemSource::file(dir.server_key());
  // The log and the witness are public: every answer is verifiable
  // against signatures, so nobody needs a device certificate to read.
  config.tls.client_cert_mode = net::ClientCertMode::kNone;
  config.logger = [](net::LogLevel level, std::string_view message) {
    log(level == net::LogLevel::kError ? "error" : level == net::LogLevel::kWarning ? "warning" : "info", message,
        {{"component", "net"}});
  };
  auto server = TRY(net::Server::create(std::move(config), std::move(router)));
  server->start();
  std::printf("pmos-server %.*s listening on https://%s:%u\n", static_cast<int>(role.size()), role.data(),
              address.host.c_str(), server->port());
  std::fflush(stdout);
  return server;
}

int wait_for_signal(const std::function<void()>& tick) {
  sigset_t signals = role_signals();
  const timespec period{0, 250'000'000};
  for (;;) {
    int signal_number = sigtimedwait(&signals, nullptr, &period);
    if (signal_number > 0) return signal_number;
    if (tick) tick();
  }
}

}  // namespace pmos::server::role

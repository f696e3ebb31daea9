// pmos-log: runs a transparency log or a witness, and checks a log from
// outside (issue 7, docs/log.md).
//
//   serve --data DIR --listen HOST:PORT [--origin NAME] [--interval-ms N]
//         [--postgres CONNINFO] [--tls-cert F --tls-key F] [--threads N]
//         [--witness VKEY@URL,... [--witness-quorum N] [--witness-ca PEM]]
//   witness --data DIR --listen HOST:PORT --log-vkey VKEY[,VKEY...]|@FILE
//         [--name NAME] [--postgres CONNINFO] [--tls-cert F --tls-key F]
//   show | verify-inclusion | verify-consistency | monitor: the client
//         commands of libs/tlogd (log_commands.h), shared with `pmos log`.
//
// Exit status: 0 verified, 1 a check failed (the log misbehaved or the input
// is wrong), 2 usage or I/O error.
#include <signal.h>
#include <sys/stat.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "pmos/base/file.h"
#include "pmos/crypto/random.h"
#include "pmos/net/server.h"
#include "pmos/tlogd/client.h"
#include "pmos/tlogd/http.h"
#include "pmos/tlogd/key_files.h"
#include "pmos/tlogd/log.h"
#include "pmos/tlogd/log_commands.h"
#include "pmos/tlogd/witness.h"
#include "self_signed.h"

namespace pmos::cli {
namespace {

constexpr int kVerified = 0;
constexpr int kCheckFailed = 1;
constexpr int kUsage = 2;

using namespace tlogd::cli;

void usage() {
  std::fputs(
      "usage: pmos-log serve --data DIR --listen HOST:PORT [--origin NAME] [--interval-ms N]\n"
      "                      [--postgres CONNINFO] [--tls-cert FILE --tls-key FILE] [--threads N]\n"
      "                      [--witness VKEY@URL,... [--witness-quorum N] [--witness-ca FILE]]\n"
      "       pmos-log witness --data DIR --listen HOST:PORT --log-vkey VKEY,...|@FILE [--name NAME]\n"
      "                      [--postgres CONNINFO] [--tls-cert FILE --tls-key FILE]\n",
      stderr);
  std::fputs(tlogd::log_client_usage("pmos-log").c_str(), stderr);
}

int fail(const char* what, const Error& error) {
  std::fprintf(stderr, "pmos-log: %s: %s\n", what, error.to_string().c_str());
  return error.category() == ErrorCategory::kCrypto ? kCheckFailed : kUsage;
}


// ---------------------------------------------------------------- serve

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

// Reads `path`, or creates it with `make()` (mode 0600) on first start.
ErrorOr<std::string> load_or_create(const std::string& path, const std::function<ErrorOr<std::string>()>& make,
                                    bool& created) {
  created = false;
  if (std::filesystem::exists(path)) return read_text(path);
  std::string value = TRY(make());
  TRY(write_file_atomic(path, as_bytes(value), 0600));
  created = true;
  return value;
}

struct Listen {
  std::string host;
  std::uint16_t port = 0;
};

ErrorOr<Listen> parse_listen(const std::string& listen) {
  auto colon = listen.rfind(':');
  auto port = parse_u64(colon == std::string::npos ? "" : listen.substr(colon + 1));
  if (!port || *port > 65535) return Error::invalid_argument("--listen must be HOST:PORT");
  return Listen{listen.substr(0, colon), static_cast<std::uint16_t>(*port)};
}

// --tls-cert/--tls-key, or a self-signed certificate for the host created
// in the data directory on first start.
ErrorOr<net::TlsServerConfig> server_tls(const Flags& flags, const std::string& data, const std::string& host) {
  net::TlsServerConfig tls;
  tls.client_cert_mode = net::ClientCertMode::kNone;
  if (flags.contains("tls-cert")) {
    tls.certificate_chain = net::PemSource::file(flag(flags, "tls-cert"));
    tls.private_key = net::PemSource::file(flag(flags, "tls-key"));
    return tls;
  }
  bool created = false;
  TRY(load_or_create(
      data + "/tls-cert.pem",
      [&]() -> ErrorOr<std::string> {
        PemPair pair = TRY(make_self_signed(host));
        TRY(write_file_atomic(data + "/tls-key.pem", as_bytes(pair.private_key), 0600));
        return pair.certificate;
      },
      created));
  tls.certificate_chain = net::PemSource::file(data + "/tls-cert.pem");
  tls.private_key = net::PemSource::file(data + "/tls-key.pem");
  return tls;
}

store::DatabaseConfig database_config(const Flags& flags, const std::string& default_file) {
  store::DatabaseConfig config;
  if (flags.contains("postgres")) {
    config.backend = store::Backend::kPostgres;
    config.location = flag(flags, "postgres");
  } else {
    config.location = default_file;
  }
  return config;
}

void make_data_dir(const std::string& data) {
  std::error_code ec;
  std::filesystem::create_directories(data, ec);
  ::chmod(data.c_str(), 0700);
}

// Listens until SIGINT/SIGTERM; prints "url https://HOST:PORT" once up.
ErrorOr<std::unique_ptr<net::Server>> listen_and_announce(const Listen& listen, net::TlsServerConfig tls,
                                                          net::Router router, int threads) {
  net::ServerConfig server_config;
  server_config.bind_address = listen.host;
  server_config.port = listen.port;
  server_config.threads = threads;
  server_config.tls = std::move(tls);
  server_config.logger = [](net::LogLevel level, std::string_view message) {
    if (level != net::LogLevel::kInfo)
      std::fprintf(stderr, "pmos-log: %.*s\n", static_cast<int>(message.size()), message.data());
  };
  auto server = TRY(net::Server::create(std::move(server_config), std::move(router)));
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  server->start();
  std::printf("url https://%s:%u\n", listen.host.c_str(), static_cast<unsigned>(server->port()));
  return server;
}

int serve(const Flags& flags) {
  const std::string data = flag(flags, "data");
  if (data.empty()) {
    usage();
    return kUsage;
  }
  auto listen = parse_listen(flag(flags, "listen", "127.0.0.1:0"));
  if (!listen) return fail("--listen", listen.error());
  make_data_dir(data);

  // The log key: created once, never replaced. Losing it ends the log (a
  // new key is a new log); leaking it lets anyone sign a fork.
  const std::string origin = flag(flags, "origin", "localhost/pmos-log");
  auto key = tlogd::load_or_create_log_key(data, origin);
  if (!key) return fail("log key", key.error());
  const std::string vkey = key->key.verifier().vkey();
  if (key->created) std::fprintf(stderr, "pmos-log: created log key %s/log.skey\n", data.c_str());
  if (flags.contains("origin") && flag(flags, "origin") != key->key.name())
    std::fprintf(stderr, "pmos-log: warning: --origin ignored; this log's origin is %s\n",
                 std::string(key->key.name()).c_str());

  // The bearer token for POST /add.
  bool created = false;
  auto token = load_or_create(
      data + "/add-token", [] { return ErrorOr<std::string>(to_hex(crypto::random_bytes(32))); }, created);
  if (!token) return fail("add token", token.error());

  auto tls = server_tls(flags, data, listen->host);
  if (!tls) return fail("TLS certificate", tls.error());

  auto database = store::Database::create(database_config(flags, data + "/log.db"));
  if (!database) return fail("database", database.error());
  tlogd::LogConfig log_config;
  if (flags.contains("interval-ms")) {
    auto ms = parse_u64(flag(flags, "interval-ms"));
    if (!ms || *ms == 0) return fail("--interval-ms", Error::invalid_argument("must be a positive number"));
    log_config.integrate_interval = std::chrono::milliseconds(*ms);
  }
  if (flags.contains("witness")) {
    net::TlsClientConfig witness_tls;
    if (flags.contains("witness-ca")) witness_tls.ca = net::PemSource::file(flag(flags, "witness-ca"));
    const std::string list = flag(flags, "witness");
    for (std::size_t start = 0; start <= list.size();) {
      std::size_t end = list.find(',', start);
      if (end == std::string::npos) end = list.size();
      auto spec = tlogd::parse_witness_spec(std::string_view(list).substr(start, end - start));
      if (!spec) return fail("--witness", spec.error());
      auto witness = tlogd::HttpWitness::create(std::move(spec->key), spec->url, witness_tls);
      if (!witness) return fail("--witness", witness.error());
      log_config.witnesses.push_back(std::move(*witness));
      start = end + 1;
    }
    log_config.witness_quorum = log_config.witnesses.size();
  }
  if (flags.contains("witness-quorum")) {
    auto quorum = parse_u64(flag(flags, "witness-quorum"));
    if (!quorum) return fail("--witness-quorum", quorum.error());
    log_config.witness_quorum = *quorum;
  }
  auto log = tlogd::Log::open(**database, std::move(key->key), log_config);
  if (!log) return fail("opening the log", log.error());
  (*log)->start(
      [](const Error& error) {
        std::fprintf(stderr, "pmos-log: integration failed (retrying): %s (%s)\n", error.to_string().c_str(),
                     store::last_error_detail().c_str());
      },
      [](std::string_view witness, const Error& error) {
        std::fprintf(stderr, "pmos-log: witness %.*s: %s (retrying)\n", static_cast<int>(witness.size()),
                     witness.data(), error.to_string().c_str());
      });

  net::Router router;
  auto routes = tlogd::add_http_routes(router, **log, tlogd::HttpOptions{.add_token = trim(*token)});
  if (!routes) return fail("routes", routes.error());
  // POST /add blocks an I/O thread for one group commit (tlogd/http.h).
  int threads = 4;
  if (flags.contains("threads")) {
    auto parsed = parse_u64(flag(flags, "threads"));
    if (!parsed || *parsed == 0 || *parsed > 256) return fail("--threads", Error::invalid_argument("1..256"));
    threads = static_cast<int>(*parsed);
  }
  std::printf("vkey %s\n", vkey.c_str());
  auto server = listen_and_announce(*listen, std::move(*tls), std::move(router), threads);
  if (!server) return fail("listening", server.error());
  std::printf("size %llu\n", static_cast<unsigned long long>((*log)->size()));
  std::fflush(stdout);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::fputs("pmos-log: shutting down\n", stderr);
  (*server)->shutdown(std::chrono::seconds(5));
  (*log)->stop();
  // One last round, so that what was appended is published before exit
  // rather than at the next start.
  auto last = (*log)->integrate_all();
  if (!last) return fail("final integration", last.error());
  return kVerified;
}

int witness(const Flags& flags) {
  const std::string data = flag(flags, "data");
  if (data.empty() || !flags.contains("log-vkey")) {
    usage();
    return kUsage;
  }
  auto listen = parse_listen(flag(flags, "listen", "127.0.0.1:0"));
  if (!listen) return fail("--listen", listen.error());
  auto logs = tlogd::parse_log_vkeys(flag(flags, "log-vkey"));
  if (!logs) return fail("--log-vkey", logs.error());
  make_data_dir(data);
  auto key = tlogd::load_or_create_witness_key(data, flag(flags, "name", "localhost/pmos-witness"));
  if (!key) return fail("witness key", key.error());
  if (key->created) std::fprintf(stderr, "pmos-log: created witness key %s/witness.key\n", data.c_str());
  const std::string vkey = key->key.verifier().vkey();
  auto tls = server_tls(flags, data, listen->host);
  if (!tls) return fail("TLS certificate", tls.error());
  auto database = store::Database::create(database_config(flags, data + "/witness.db"));
  if (!database) return fail("database", database.error());
  auto witness = tlogd::Witness::open(**database, std::move(key->key), std::move(*logs));
  if (!witness) return fail("opening the witness", witness.error());
  net::Router router;
  auto routes = tlogd::add_witness_routes(router, **witness);
  if (!routes) return fail("routes", routes.error());
  std::printf("vkey %s\n", vkey.c_str());
  auto server = listen_and_announce(*listen, std::move(*tls), std::move(router), 2);
  if (!server) return fail("listening", server.error());
  std::fflush(stdout);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::fputs("pmos-log: shutting down\n", stderr);
  (*server)->shutdown(std::chrono::seconds(5));
  return kVerified;
}

}  // namespace
}  // namespace pmos::cli

int main(int argc, char** argv) {
  using namespace pmos::cli;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    usage();
    return kUsage;
  }
  const std::string command = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (pmos::tlogd::is_log_client_command(command))
    return pmos::tlogd::run_log_client_command("pmos-log", command, rest);
  auto flags = parse_flags(rest);
  if (!flags) {
    usage();
    return kUsage;
  }
  if (command == "serve") return serve(*flags);
  if (command == "witness") return witness(*flags);
  usage();
  return kUsage;
}

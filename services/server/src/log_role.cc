#include "log_role.h"

#include <sys/stat.h>

#include <charconv>
#include <cstdio>
#include <filesystem>

#include "log.h"
#include "pmos/base/file.h"
#include "pmos/crypto/random.h"
#include "pmos/tlogd/http.h"
#include "pmos/tlogd/key_files.h"
#include "pmos/tlogd/log.h"
#include "pmos/tlogd/witness_client.h"
#include "role_common.h"

namespace pmos::server {
namespace {

std::optional<std::uint64_t> parse_count(const std::string& text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// DIR/log-add-token: the bearer token for POST /add, created once.
ErrorOr<std::string> add_token(const DataDir& dir) {
  const std::string path = dir.path + "/log-add-token";
  if (!std::filesystem::exists(path))
    TRY(write_file_atomic(path, as_bytes(to_hex(crypto::random_bytes(32)) + "\n"), 0600));
  std::string token(as_string(TRY(read_file(path, 1024))));
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  if (token.empty()) return Error::decode("log-add-token is empty");
  return token;
}

}  // namespace

int command_log(const Options& options) {
  std::optional<std::string> data = options.get("data");
  if (!data || data->empty()) return role::usage_error("log needs --data DIR");
  const DataDir dir{*data};
  auto listen = parse_listen(options.get_or("listen", "127.0.0.1:8444"));
  const std::string origin = options.get_or("log-origin", "localhost/pmos-log");
  const std::string interval = options.get_or("interval-ms", "500");
  const std::string witnesses = options.get_or("witness", "");
  const std::optional<std::string> quorum_flag = options.get("witness-quorum");
  const std::optional<std::string> witness_ca = options.get("witness-ca");
  const int threads = std::atoi(options.get_or("threads", "4").c_str());
  store::DatabaseConfig database_config = role::database(dir, options, "log-database", "log.db");
  if (role::refuse_unread(options)) return 2;
  if (!listen) return role::usage_error("--listen wants HOST:PORT");
  auto interval_ms = parse_count(interval);
  if (!interval_ms || *interval_ms == 0) return role::usage_error("--interval-ms: a positive number");
  // POST /add holds an I/O thread for one group commit (tlogd/http.h).
  if (threads < 1 || threads > 64) return role::usage_error("--threads: 1-64");

  tlogd::LogConfig config;
  config.integrate_interval = std::chrono::milliseconds(*interval_ms);
  net::TlsClientConfig witness_tls;
  if (witness_ca) witness_tls.ca = net::PemSource::file(*witness_ca);
  for (std::size_t start = 0; start < witnesses.size();) {
    std::size_t end = witnesses.find(',', start);
    if (end == std::string::npos) end = witnesses.size();
    auto spec = tlogd::parse_witness_spec(std::string_view(witnesses).substr(start, end - start));
    if (!spec) return role::usage_error("--witness: VKEY@https://HOST:PORT[,...]");
    auto witness = tlogd::HttpWitness::create(std::move(spec->key), spec->url, witness_tls);
    if (!witness) return role::usage_error("--witness: bad URL");
    config.witnesses.push_back(std::move(*witness));
    start = end + 1;
  }
  // By default every witness must cosign before a checkpoint is served.
  config.witness_quorum = config.witnesses.size();
  if (quorum_flag) {
    auto quorum = parse_count(*quorum_flag);
    if (!quorum || *quorum > config.witnesses.size())
      return role::usage_error("--witness-quorum: at most the number of --witness entries");
    config.witness_quorum = *quorum;
  }

  role::block_signals();
  std::error_code error;
  std::filesystem::create_directories(dir.path, error);
  // The log key: created once, never replaced (a new key is a new log).
  auto key = tlogd::load_or_create_log_key(dir.path, origin);
  if (!key) return role::fail("log key", key.error());
  if (key->key.name() != origin && options.has("log-origin"))
    log("warning", "--log-origin ignored: the log key names another origin", {{"origin", key->key.name()}});
  const std::string vkey = key->key.verifier().vkey();
  auto token = add_token(dir);
  if (!token) return role::fail("add token", token.error());

  auto database = store::Database::create(database_config);
  if (!database) {
    std::fprintf(stderr, "pmos-server: database: %s\n", store::last_error_detail().c_str());
    return role::fail("opening the log database", database.error());
  }
  auto opened = tlogd::Log::open(**database, std::move(key->key), std::move(config));
  if (!opened) return role::fail("opening the log", opened.error());
  tlogd::Log& transparency_log = **opened;
  transparency_log.start(
      [](const Error& failure) {
        log("error", "log integration failed (retrying)",
            {{"error", failure.to_string()}, {"detail", store::last_error_detail()}});
      },
      [](std::string_view witness, const Error& failure) {
        log("warning", "witness did not cosign (retrying)", {{"witness", witness}, {"error", failure.to_string()}});
      });

  net::Router router;
  auto routes = tlogd::add_http_routes(router, transparency_log, tlogd::HttpOptions{.add_token = *token});
  if (!routes) return role::fail("routes", routes.error());
  auto server = role::listen(dir, *listen, std::move(router), threads, "log");
  if (!server) return role::fail("starting the listener", server.error());
  log("info", "log listening", {{"origin", transparency_log.origin()}, {"vkey", vkey}, {"port", (*server)->port()}});

  int signal_number = role::wait_for_signal();
  log("info", "shutting down", {{"signal", signal_number}});
  bool clean = (*server)->shutdown(std::chrono::seconds(5));
  transparency_log.stop();
  // What was appended is integrated now rather than at the next start.
  auto last = transparency_log.integrate_all();
  if (!last) return role::fail("final integration", last.error());
  log("info", "stopped", {{"clean", clean}, {"size", *last}});
  return 0;
}

int command_log_key(const Options& options) {
  std::optional<std::string> data = options.get("data");
  if (!data || data->empty()) return role::usage_error("log-key needs --data DIR");
  const std::string origin = options.get_or("log-origin", "localhost/pmos-log");
  if (role::refuse_unread(options)) return 2;
  std::error_code error;
  std::filesystem::create_directories(*data, error);
  auto key = tlogd::load_or_create_log_key(*data, origin);
  if (!key) return role::fail("log key", key.error());
  std::printf("%s\n", key->key.verifier().vkey().c_str());
  return 0;
}

}  // namespace pmos::server

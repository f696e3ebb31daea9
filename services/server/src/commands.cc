#include "commands.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <shared_mutex>

#include "data_dir.h"
#include "enrollment.h"
#include "log.h"
#include "nats_bridge.h"
#include "pki.h"
#include "pmos/base/file.h"
#include "pmos/net/server.h"
#include "relay_service.h"

namespace pmos::server {
namespace {

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

// Flags the command did not read are typos: refuse them rather than run
// with a setting the operator did not get.
bool refuse_unread(const Options& options) {
  std::vector<std::string> unread = options.unread();
  if (unread.empty()) return false;
  std::fprintf(stderr, "pmos-server %s: unknown option --%s\n", options.command().c_str(), unread.front().c_str());
  return true;
}

std::optional<DataDir> data_dir(const Options& options) {
  std::optional<std::string> path = options.get("data");
  if (!path || path->empty()) return std::nullopt;
  return DataDir{*path};
}

// A whole number setting within [min, max]; the error names the setting.
ErrorOr<std::int64_t> parse_integer(const Options& options, std::string_view name, std::int64_t fallback,
                                    std::int64_t min, std::int64_t max) {
  std::optional<std::string> text = options.get(name);
  if (!text) return fallback;
  std::int64_t value = 0;
  auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (error != std::errc() || end != text->data() + text->size() || value < min || value > max) {
    // Error messages are static; keep the detail on stderr.
    std::fprintf(stderr, "pmos-server: %.*s: a whole number from %lld to %lld, not \"%s\"\n",
                 static_cast<int>(name.size()), name.data(), static_cast<long long>(min),
                 static_cast<long long>(max), text->c_str());
    return Error::invalid_argument("a setting is out of range");
  }
  return value;
}

std::string database_flag(const Options& options) { return options.get_or("database", ""); }

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    if (comma > start) parts.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return parts;
}

ErrorOr<std::string> read_text(const std::string& path) {
  Bytes bytes = TRY(read_file(path, 1 << 20));
  return std::string(as_string(bytes));
}

ErrorOr<std::unique_ptr<store::RelayStore>> open_store(const DataDir& dir, const std::string& database,
                                                       std::size_t max_attachment_bytes = 16 << 20) {
  store::RelayStoreConfig config;
  config.database = database_config(dir, database);
  config.max_attachment_bytes = max_attachment_bytes;
  auto opened = store::RelayStore::create(config);
  if (!opened) std::fprintf(stderr, "pmos-server: database: %s\n", store::last_error_detail().c_str());
  return opened;
}

}  // namespace

namespace {

// The SM2 MLS credential CA of the national policy: loaded from the data
// directory, or made there on first use (key first, certificate last, as
// init does) so that switching the policy to "national" needs no extra step.
ErrorOr<std::unique_ptr<CertificateAuthority>> national_ca(const DataDir& dir, const std::string& organization) {
  if (!std::filesystem::exists(dir.national_ca_cert())) {
    KeyAndCertificate made = TRY(create_national_ca(organization.empty() ? std::string("PMOS") : organization));
    TRY(write_file_atomic(dir.national_ca_key(), as_bytes(made.key_pem), 0600));
    TRY(write_file_atomic(dir.national_ca_cert(), as_bytes(made.cert_pem), 0644));
    log("info", "national MLS credential CA created", {{"certificate", dir.national_ca_cert()}});
  }
  auto cert = read_text(dir.national_ca_cert());
  auto key = read_text(dir.national_ca_key());
  if (!cert || !key) return Error::not_found("national-ca.pem or national-ca.key is missing or unreadable");
  return CertificateAuthority::load(*cert, *key);
}

}  // namespace

// ---- init

int command_init(const Options& options) {
  std::optional<DataDir> dir = data_dir(options);
  if (!dir) return usage_error("init needs --data DIR");
  std::string organization = options.get_or("org", "PMOS");
  std::vector<std::string> dns = split_list(options.get_or("san-dns", "localhost"));
  std::vector<std::string> ips = split_list(options.get_or("san-ip", "127.0.0.1"));
  std::string database = database_flag(options);
  auto suite = parse_mls_suite_policy(options.get_or("mls-suite", "international"));
  if (refuse_unread(options)) return 2;
  if (!suite) return usage_error(suite.error().message());

  // Never overwrite: a second CA would orphan every enrolled device.
  for (const std::string& path : {dir->ca_cert(), dir->ca_key(), dir->server_cert(), dir->server_key()}) {
    if (std::filesystem::exists(path)) {
      std::fprintf(stderr, "pmos-server init: %s exists; refusing to overwrite an existing CA\n", path.c_str());
      return 1;
    }
  }
  if (*suite == 0xF0A1 && std::filesystem::exists(dir->national_ca_cert())) {
    std::fprintf(stderr, "pmos-server init: %s exists; refusing to overwrite an existing CA\n",
                 dir->national_ca_cert().c_str());
    return 1;
  }
  std::error_code error;
  std::filesystem::create_directories(dir->path, error);
  if (error) {
    std::fprintf(stderr, "pmos-server init: cannot create %s: %s\n", dir->path.c_str(), error.message().c_str());
    return 1;
  }
  // The directory holds the CA key: nobody else may list or read it.
  ::chmod(dir->path.c_str(), 0700);

  auto ca = create_org_ca(organization);
  if (!ca) return fail("creating the org CA", ca.error());
  auto server = issue_server_certificate(*ca, dns, ips);
  if (!server) return fail("issuing the server certificate", server.error());
  // Keys first, certificates last: the certificate files mark a finished init.
  for (auto [path, text, mode] : {std::tuple{dir->ca_key(), &ca->key_pem, 0600},
                                  std::tuple{dir->server_key(), &server->key_pem, 0600},
                                  std::tuple{dir->ca_cert(), &ca->cert_pem, 0644},
                                  std::tuple{dir->server_cert(), &server->cert_pem, 0644}}) {
    auto written = write_file_atomic(path, as_bytes(*text), mode);
    if (!written) return fail("writing " + path, written.error());
  }
  if (*suite == 0xF0A1) {
    auto national = national_ca(*dir, organization);
    if (!national) return fail("creating the national MLS credential CA", national.error());
  }
  auto store = open_store(*dir, database);
  if (!store) return fail("creating the database", store.error());
  std::printf("initialized %s: org CA \"%s\", server certificate for %s, database %s, MLS suite policy %s\n",
              dir->path.c_str(), organization.c_str(), options.get_or("san-dns", "localhost").c_str(),
              database.empty() ? dir->sqlite_database().c_str() : "(as given)",
              *suite == 0xF0A1 ? "national (0xF0A1, SM2 credential CA national-ca.pem)" : "international (0x0001)");
  return 0;
}

// ---- enroll-token

int command_enroll_token(const Options& options) {
  std::optional<DataDir> dir = data_dir(options);
  if (!dir) return usage_error("enroll-token needs --data DIR");
  std::optional<std::string> user = options.get("user");
  if (!user) return usage_error("enroll-token needs --user USER");
  auto ttl = parse_duration(options.get_or("ttl", "24h"));
  auto count = parse_integer(options, "count", 1, 1, 100'000);
  std::string database = database_flag(options);
  if (refuse_unread(options)) return 2;
  if (!ttl) return usage_error("--ttl: a duration such as 90m, 24h or 7d");
  if (!count) return usage_error("--count: 1-100000");
  if (!valid_user_id(*user)) return usage_error("--user: 1-64 characters of A-Z a-z 0-9 . _ @ -");

  auto store = open_store(*dir, database);
  if (!store) return fail("opening the database", store.error());
  auto expires = std::chrono::system_clock::now() + *ttl;
  // --count N: N tokens for N devices of the same user, one per line (the
  // load generator enrolls its devices so).
  for (std::int64_t i = 0; i < *count; ++i) {
    std::string token = new_enrollment_token();
    auto added = (*store)->add_enrollment_token(enrollment_token_hash(token), *user, expires);
    if (!added) return fail("storing the token", added.error());
    if (!*added) return fail("storing the token", Error::internal("token collision"));
    // Only the hash is stored: this is the one time the token is shown.
    std::printf("%s\n", token.c_str());
  }
  std::fprintf(stderr, "%lld one-time enrollment token(s) for user %s, valid for %lld s (shown once; not stored)\n",
               static_cast<long long>(*count), user->c_str(), static_cast<long long>(ttl->count()));
  return 0;
}

// ---- revoke

int command_revoke(const Options& options) {
  std::optional<DataDir> dir = data_dir(options);
  if (!dir) return usage_error("revoke needs --data DIR");
  std::string database = database_flag(options);
  if (refuse_unread(options)) return 2;
  if (options.positional().size() != 1) return usage_error("revoke takes one DEVICE id");
  const std::string& device = options.positional().front();
  auto store = open_store(*dir, database);
  if (!store) return fail("opening the database", store.error());
  auto revoked = (*store)->revoke_device(device);
  if (!revoked) return fail("revoking", revoked.error());
  if (!*revoked) {
    std::fprintf(stderr, "pmos-server revoke: no device %s\n", device.c_str());
    return 1;
  }
  std::printf("revoked %s (a running server closes its connections within a second)\n", device.c_str());
  return 0;
}

// ---- run

namespace {

// The fingerprints of revoked certificates, which libs/net asks on every
// handshake. Filled from the store at start and by polling (the `revoke`
// command is another process writing the same database). Thread-safe.
class RevocationSet {
 public:
  bool contains(const net::Sha256Fingerprint& fingerprint) const {
    std::shared_lock lock(mutex_);
    return revoked_.contains(fingerprint);
  }
  // Adds what is new and returns it.
  std::vector<net::Sha256Fingerprint> update(const std::vector<store::Device>& devices) {
    std::vector<net::Sha256Fingerprint> added;
    std::unique_lock lock(mutex_);
    for (const store::Device& device : devices) {
      if (device.certificate_fingerprint.size() != 32) continue;
      net::Sha256Fingerprint fingerprint;
      std::copy(device.certificate_fingerprint.begin(), device.certificate_fingerprint.end(), fingerprint.begin());
      if (revoked_.insert(fingerprint).second) added.push_back(fingerprint);
    }
    return added;
  }

 private:
  mutable std::shared_mutex mutex_;
  std::set<net::Sha256Fingerprint> revoked_;
};

std::string render_metrics(const RelayService& relay, store::RelayStore& store) {
  std::string text;
  auto metric = [&text](std::string_view name, std::string_view type, std::string_view help, auto value) {
    text += "# HELP " + std::string(name) + " " + std::string(help) + "\n# TYPE " + std::string(name) + " " +
            std::string(type) + "\n" + std::string(name) + " " + std::to_string(value) + "\n";
  };
  metric("pmos_relay_connections", "gauge", "Open device WebSocket connections.", relay.connection_count());
  metric("pmos_relay_frames_in_total", "counter", "Frames received from devices.", relay.messages_in());
  metric("pmos_relay_deliveries_out_total", "counter", "Queue entries pushed to devices.", relay.deliveries_out());
  metric("pmos_relay_rate_limited_total", "counter", "Requests answered RATE_LIMITED.", relay.rate_limited());
  metric("pmos_relay_quota_refusals_total", "counter", "Requests answered QUOTA_EXCEEDED.", relay.quota_refusals());
  metric("pmos_relay_pending_requests", "gauge", "Requests accepted and waiting for a worker.",
         relay.pending_requests());
  // A read of the store per scrape: the one number that shows devices
  // falling behind.
  auto queued = store.queued_entries();
  if (queued) metric("pmos_relay_queue_entries", "gauge", "Queue entries stored and not yet acked.", *queued);
  text += relay.store_write_latency().render("pmos_store_write_seconds",
                                             "Durable writes (sends, commits) from submit to commit.");
  return text;
}

}  // namespace

int command_run(const Options& options) {
  std::optional<DataDir> dir = data_dir(options);
  if (!dir) return usage_error("run needs --data DIR");
  auto listen = parse_listen(options.get_or("listen", "127.0.0.1:8443"));
  std::string database = database_flag(options);
  auto io_threads = parse_integer(options, "threads", 2, 1, 64);
  auto workers = parse_integer(options, "workers", 2, 1, 256);
  auto max_frame = parse_integer(options, "max-frame-bytes", 2 << 20, 64 << 10, 64 << 20);
  auto rate_limit = parse_integer(options, "rate-limit", 200, 0, 1'000'000);
  auto rate_burst = parse_integer(options, "rate-burst", 400, 1, 10'000'000);
  auto max_key_packages = parse_integer(options, "max-key-packages", 1000, 0, 1'000'000);
  auto attachment_quota = parse_integer(options, "attachment-quota-bytes", 256LL << 20, 0, 1LL << 50);
  auto max_connections = parse_integer(options, "max-connections", 10'000, 1, 1'000'000);
  auto retention = parse_duration(options.get_or("retention", "30d"));
  std::string nats_url = options.get_or("nats", "");
  std::string node_id = options.get_or("node-id", "");
  auto mls_suite = parse_mls_suite_policy(options.get_or("mls-suite", "international"));
  if (refuse_unread(options)) return 2;
  if (!mls_suite) return usage_error(mls_suite.error().message());
  if (!listen) return usage_error("--listen wants HOST:PORT");
  if (!retention) return usage_error("--retention: a duration such as 30d");
  for (const auto* parsed : {&io_threads, &workers, &max_frame, &rate_limit, &rate_burst, &max_key_packages,
                             &attachment_quota, &max_connections}) {
    if (!*parsed) return usage_error(parsed->error().message());
  }
  RelayConfig relay_config;
  relay_config.workers = static_cast<std::size_t>(*workers);
  relay_config.rate_limit = static_cast<double>(*rate_limit);
  relay_config.rate_burst = static_cast<double>(*rate_burst);
  relay_config.max_key_packages = *max_key_packages;
  relay_config.attachment_quota_bytes = *attachment_quota;
  // An attachment travels in one frame, with room for the envelope.
  relay_config.max_attachment_bytes = static_cast<std::size_t>(*max_frame) - 16 * 1024;

  // Signals are taken synchronously by this thread (sigtimedwait below);
  // block them before any thread exists so that every thread inherits it.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto ca_cert = read_text(dir->ca_cert());
  auto ca_key = read_text(dir->ca_key());
  if (!ca_cert || !ca_key) {
    std::fprintf(stderr, "pmos-server run: no CA in %s; run `pmos-server init --data %s` first\n", dir->path.c_str(),
                 dir->path.c_str());
    return 1;
  }
  auto ca = CertificateAuthority::load(*ca_cert, *ca_key);
  if (!ca) return fail("loading the CA", ca.error());

  store::RelayStoreConfig store_config;
  store_config.database = database_config(*dir, database);
  store_config.max_attachment_bytes = relay_config.max_attachment_bytes;
  store_config.retention = *retention;
  auto store = store::RelayStore::create(store_config);
  if (!store) {
    std::fprintf(stderr, "pmos-server: database: %s\n", store::last_error_detail().c_str());
    return fail("opening the database", store.error());
  }

  auto revocations = std::make_shared<RevocationSet>();
  {
    auto revoked = (*store)->revoked_devices();
    if (!revoked) return fail("reading revocations", revoked.error());
    revocations->update(*revoked);
  }

  auto relay = std::make_unique<RelayService>(**store, relay_config);
  std::unique_ptr<NatsBridge> nats;
  if (!nats_url.empty()) {
    if (node_id.empty()) {
      char host[256] = {};
      ::gethostname(host, sizeof host - 1);
      node_id = std::string(host) + ":" + std::to_string(::getpid());
    }
    auto bridge = NatsBridge::start(nats_url, node_id, *relay);
    if (!bridge) {
      std::fprintf(stderr, "pmos-server: nats %s: %s\n", nats_url.c_str(), NatsBridge::last_error_detail().c_str());
      return fail("connecting to NATS", bridge.error());
    }
    nats = std::move(*bridge);
    relay->set_remote_waker([bridge_ptr = nats.get()](const std::vector<std::string>& devices) {
      bridge_ptr->publish(devices);
    });
    log("info", "nats connected", {{"url", nats_url}, {"node", node_id}});
  }

  net::Router router;
  EnrollmentConfig enrollment_config;
  std::unique_ptr<CertificateAuthority> national;
  if (*mls_suite == 0xF0A1) {
    auto loaded = national_ca(*dir, (*ca)->organization());
    if (!loaded) return fail("the national MLS credential CA", loaded.error());
    national = std::move(*loaded);
    enrollment_config.national_ca = national.get();
  }
  log("info", "MLS suite policy", {{"mls_suite", *mls_suite == 0xF0A1 ? "national" : "international"}});
  auto added = router.add(net::Method::kPost, "/v1/enroll", make_enrollment_handler(**store, **ca, enrollment_config),
                          {net::PeerAuth::kAnonymous, 64 * 1024});
  if (!added) return fail("routes", added.error());
  added = router.add(
      net::Method::kGet, "/healthz",
      [](const net::Request&) -> ErrorOr<net::Response> { return net::Response::json({{"status", "ok"}}); },
      {net::PeerAuth::kAnonymous, 0});
  if (!added) return fail("routes", added.error());
  RelayService* relay_ptr = relay.get();
  store::RelayStore* store_ptr = store->get();
  added = router.add(
      net::Method::kGet, "/metrics",
      [relay_ptr, store_ptr](const net::Request&) -> ErrorOr<net::Response> {
        net::Response response = net::Response::text(render_metrics(*relay_ptr, *store_ptr));
        response.content_type = "text/plain; version=0.0.4";
        return response;
      },
      {net::PeerAuth::kAnonymous, 0});
  if (!added) return fail("routes", added.error());
  added = router.add_websocket("/v1/relay", relay->handlers());
  if (!added) return fail("routes", added.error());

  net::ServerConfig server_config;
  server_config.bind_address = listen->host;
  server_config.port = listen->port;
  server_config.threads = static_cast<int>(*io_threads);
  server_config.tls.certificate_chain = net::PemSource::file(dir->server_cert());
  server_config.tls.private_key = net::PemSource::file(dir->server_key());
  server_config.tls.client_ca = net::PemSource::memory(*ca_cert);
  server_config.tls.client_cert_mode = net::ClientCertMode::kOptional;  // enrollment is anonymous
  server_config.tls.accept_peer = [revocations](const net::PeerCertificate& peer) {
    return !revocations->contains(peer.sha256);
  };
  server_config.limits.ws_max_message_bytes = static_cast<std::size_t>(*max_frame);
  server_config.limits.max_connections = static_cast<std::size_t>(*max_connections);
  server_config.limits.max_body_bytes = 64 * 1024;
  // Room for a full delivery window plus the responses interleaved with it.
  server_config.limits.ws_queue_depth = relay_config.delivery_window * 2 + 64;
  server_config.logger = [](net::LogLevel level, std::string_view message) {
    log(level == net::LogLevel::kError ? "error" : level == net::LogLevel::kWarning ? "warning" : "info", message,
        {{"component", "net"}});
  };
  auto server = net::Server::create(std::move(server_config), std::move(router));
  if (!server) return fail("starting the listener", server.error());
  (*server)->start();
  // The one line on stdout: scripts and tests wait for it.
  std::printf("pmos-server listening on https://%s:%u\n", listen->host.c_str(), (*server)->port());
  std::fflush(stdout);
  log("info", "listening", {{"address", listen->host}, {"port", (*server)->port()}});

  // The main thread's loop: signals, revocations (polled, because `revoke`
  // is another process: a revoked device is cut within a poll period), and
  // retention expiry.
  const timespec poll_period{0, 250'000'000};
  auto next_expiry = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  int signal_number = 0;
  for (;;) {
    signal_number = sigtimedwait(&signals, nullptr, &poll_period);
    if (signal_number > 0) break;
    auto revoked = (*store)->revoked_devices();
    if (revoked) {
      for (const net::Sha256Fingerprint& fingerprint : revocations->update(*revoked)) {
        // The set first, then the kill (docs/net.md: closes the race with a
        // handshake in progress).
        std::size_t closed = (*server)->kill_peer(fingerprint);
        log("info", "revoked certificate", {{"fingerprint", to_hex(fingerprint)}, {"connections_closed", closed}});
      }
    } else {
      log("error", "polling revocations failed", {{"detail", store::last_error_detail()}});
    }
    if (std::chrono::steady_clock::now() >= next_expiry) {
      next_expiry = std::chrono::steady_clock::now() + std::chrono::minutes(10);
      auto expired = (*store)->expire();
      if (expired)
        log("info", "retention expiry", {{"messages", expired->messages}, {"queue_entries", expired->queue_entries},
                                          {"attachments", expired->attachments}, {"tokens", expired->tokens}});
    }
  }
  log("info", "shutting down", {{"signal", signal_number}});
  bool clean = (*server)->shutdown(std::chrono::seconds(5));
  nats.reset();  // no wake-up may arrive into a stopping relay
  relay->shutdown();
  relay.reset();
  store->reset();
  log("info", "stopped", {{"clean", clean}});
  return 0;
}

}  // namespace pmos::server

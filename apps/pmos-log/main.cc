// pmos-log: runs a transparency log and checks one from outside (issue 7,
// docs/log.md).
//
//   serve --data DIR --listen HOST:PORT [--origin NAME] [--interval-ms N]
//         [--postgres CONNINFO] [--tls-cert F --tls-key F] [--threads N]
//   show               --url URL --vkey VKEY [--ca PEM]
//   verify-inclusion   --url URL --vkey VKEY [--ca PEM] --index N [--entry FILE]
//   verify-consistency --url URL --vkey VKEY [--ca PEM] --old CHECKPOINT_FILE
//   monitor            --url URL --vkey VKEY [--ca PEM] [--interval-ms N] [--once]
//
// --vkey takes the key text or @FILE. Exit status: 0 verified, 1 a check
// failed (the log misbehaved or the input is wrong), 2 usage or I/O error.
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
#include "pmos/tlog/memory_hash_store.h"
#include "pmos/tlog/merkle.h"
#include "pmos/tlog/proof.h"
#include "pmos/tlogd/client.h"
#include "pmos/tlogd/http.h"
#include "pmos/tlogd/log.h"
#include "self_signed.h"

namespace pmos::cli {
namespace {

constexpr int kVerified = 0;
constexpr int kCheckFailed = 1;
constexpr int kUsage = 2;

using Flags = std::map<std::string, std::string, std::less<>>;

void usage() {
  std::fputs(
      "usage: pmos-log serve --data DIR --listen HOST:PORT [--origin NAME] [--interval-ms N]\n"
      "                      [--postgres CONNINFO] [--tls-cert FILE --tls-key FILE] [--threads N]\n"
      "       pmos-log show --url URL --vkey VKEY|@FILE [--ca FILE]\n"
      "       pmos-log verify-inclusion --url URL --vkey VKEY [--ca FILE] --index N [--entry FILE]\n"
      "       pmos-log verify-consistency --url URL --vkey VKEY [--ca FILE] --old CHECKPOINT_FILE\n"
      "       pmos-log monitor --url URL --vkey VKEY [--ca FILE] [--interval-ms N] [--once]\n",
      stderr);
}

int fail(const char* what, const Error& error) {
  std::fprintf(stderr, "pmos-log: %s: %s\n", what, error.to_string().c_str());
  return error.category() == ErrorCategory::kCrypto ? kCheckFailed : kUsage;
}

// "--name value" pairs; "--once" is the one flag without a value.
ErrorOr<Flags> parse_flags(const std::vector<std::string>& args) {
  Flags flags;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (!args[i].starts_with("--")) return Error::invalid_argument("expected --flag");
    if (args[i] == "--once") {
      flags["once"] = "1";
      continue;
    }
    if (i + 1 >= args.size()) return Error::invalid_argument("flag without a value");
    flags[args[i].substr(2)] = args[i + 1];
    ++i;
  }
  return flags;
}

std::string flag(const Flags& flags, std::string_view name, std::string fallback = {}) {
  auto it = flags.find(name);
  return it == flags.end() ? fallback : it->second;
}

ErrorOr<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    return Error::invalid_argument("not a decimal number");
  return value;
}

ErrorOr<std::string> read_text(const std::string& path) {
  Bytes bytes = TRY(read_file(path, tlog::kMaxNoteSize));
  return std::string(as_string(bytes));
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
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

int serve(const Flags& flags) {
  const std::string data = flag(flags, "data");
  const std::string listen = flag(flags, "listen", "127.0.0.1:0");
  if (data.empty()) {
    usage();
    return kUsage;
  }
  auto colon = listen.rfind(':');
  auto port = parse_u64(colon == std::string::npos ? "" : listen.substr(colon + 1));
  if (!port || *port > 65535) {
    std::fputs("pmos-log: --listen must be HOST:PORT\n", stderr);
    return kUsage;
  }
  const std::string host = listen.substr(0, colon);
  std::error_code ec;
  std::filesystem::create_directories(data, ec);
  ::chmod(data.c_str(), 0700);

  // The log key: created once, never replaced. Losing it ends the log (a
  // new key is a new log); leaking it lets anyone sign a fork.
  bool created = false;
  const std::string origin = flag(flags, "origin", "localhost/pmos-log");
  auto skey = load_or_create(
      data + "/log.skey",
      [&]() -> ErrorOr<std::string> {
        auto key = TRY(tlog::Ed25519NoteSigner::generate(origin));
        return std::string(as_string(key.skey().view()));
      },
      created);
  if (!skey) return fail("log key", skey.error());
  auto key = tlog::Ed25519NoteSigner::from_skey(trim(*skey));
  if (!key) return fail("log key", key.error());
  const std::string vkey = key->verifier().vkey();
  auto written = write_file_atomic(data + "/log.vkey", as_bytes(vkey + "\n"), 0644);
  if (!written) return fail("log.vkey", written.error());
  if (created) std::fprintf(stderr, "pmos-log: created log key %s/log.skey\n", data.c_str());
  if (flags.contains("origin") && flag(flags, "origin") != key->name())
    std::fprintf(stderr, "pmos-log: warning: --origin ignored; this log's origin is %s\n",
                 std::string(key->name()).c_str());

  // The bearer token for POST /add.
  auto token = load_or_create(
      data + "/add-token", [] { return ErrorOr<std::string>(to_hex(crypto::random_bytes(32))); }, created);
  if (!token) return fail("add token", token.error());

  net::TlsServerConfig tls;
  tls.client_cert_mode = net::ClientCertMode::kNone;
  if (flags.contains("tls-cert")) {
    tls.certificate_chain = net::PemSource::file(flag(flags, "tls-cert"));
    tls.private_key = net::PemSource::file(flag(flags, "tls-key"));
  } else {
    PemPair pair;
    auto cert = load_or_create(
        data + "/tls-cert.pem",
        [&]() -> ErrorOr<std::string> {
          pair = TRY(make_self_signed(host));
          TRY(write_file_atomic(data + "/tls-key.pem", as_bytes(pair.private_key), 0600));
          return pair.certificate;
        },
        created);
    if (!cert) return fail("TLS certificate", cert.error());
    tls.certificate_chain = net::PemSource::file(data + "/tls-cert.pem");
    tls.private_key = net::PemSource::file(data + "/tls-key.pem");
  }

  store::DatabaseConfig database_config;
  if (flags.contains("postgres")) {
    database_config.backend = store::Backend::kPostgres;
    database_config.location = flag(flags, "postgres");
  } else {
    database_config.location = data + "/log.db";
  }
  auto database = store::Database::create(database_config);
  if (!database) return fail("database", database.error());
  tlogd::LogConfig log_config;
  if (flags.contains("interval-ms")) {
    auto ms = parse_u64(flag(flags, "interval-ms"));
    if (!ms || *ms == 0) return fail("--interval-ms", Error::invalid_argument("must be a positive number"));
    log_config.integrate_interval = std::chrono::milliseconds(*ms);
  }
  auto log = tlogd::Log::open(**database, std::move(*key), log_config);
  if (!log) return fail("opening the log", log.error());
  (*log)->start([](const Error& error) {
    std::fprintf(stderr, "pmos-log: integration failed (retrying): %s (%s)\n", error.to_string().c_str(),
                 store::last_error_detail().c_str());
  });

  net::Router router;
  auto routes = tlogd::add_http_routes(router, **log, tlogd::HttpOptions{.add_token = trim(*token)});
  if (!routes) return fail("routes", routes.error());
  net::ServerConfig server_config;
  server_config.bind_address = host;
  server_config.port = static_cast<std::uint16_t>(*port);
  // POST /add blocks an I/O thread for one group commit (tlogd/http.h).
  server_config.threads = 4;
  if (flags.contains("threads")) {
    auto threads = parse_u64(flag(flags, "threads"));
    if (!threads || *threads == 0 || *threads > 256) return fail("--threads", Error::invalid_argument("1..256"));
    server_config.threads = static_cast<int>(*threads);
  }
  server_config.tls = std::move(tls);
  server_config.logger = [](net::LogLevel level, std::string_view message) {
    if (level != net::LogLevel::kInfo)
      std::fprintf(stderr, "pmos-log: %.*s\n", static_cast<int>(message.size()), message.data());
  };
  auto server = net::Server::create(std::move(server_config), std::move(router));
  if (!server) return fail("listening", server.error());
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  (*server)->start();

  std::printf("vkey %s\n", vkey.c_str());
  std::printf("url https://%s:%u\n", host.c_str(), static_cast<unsigned>((*server)->port()));
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

// ---------------------------------------------------------------- clients

struct Remote {
  tlog::Ed25519NoteVerifier key;
  std::unique_ptr<tlogd::LogClient> client;
};

ErrorOr<Remote> connect_remote(const Flags& flags) {
  std::string vkey = flag(flags, "vkey");
  if (vkey.starts_with("@")) vkey = TRY(read_text(vkey.substr(1)));
  auto key = TRY(tlog::Ed25519NoteVerifier::from_vkey(trim(vkey)));
  auto url = TRY(tlogd::parse_log_url(flag(flags, "url")));
  net::TlsClientConfig tls;
  if (flags.contains("ca")) tls.ca = net::PemSource::file(flag(flags, "ca"));
  auto client = TRY(tlogd::LogClient::connect(tls, url));
  return Remote{std::move(key), std::move(client)};
}

void print_checkpoint(const tlog::Checkpoint& checkpoint) {
  std::printf("origin %s\nsize %llu\nroot %s\n", checkpoint.origin.c_str(),
              static_cast<unsigned long long>(checkpoint.size), to_hex(checkpoint.root).c_str());
}

int show(const Flags& flags) {
  auto remote = connect_remote(flags);
  if (!remote) return fail("connecting", remote.error());
  auto note = remote->client->fetch_checkpoint_note();
  if (!note) return fail("fetching the checkpoint", note.error());
  auto opened = tlog::open_checkpoint(*note, remote->key.name(), remote->key);
  if (!opened) return fail("checkpoint refused", opened.error());
  print_checkpoint(opened->checkpoint);
  std::printf("\n%s", note->c_str());
  return kVerified;
}

int verify_inclusion(const Flags& flags) {
  auto index = parse_u64(flag(flags, "index"));
  if (!index) return fail("--index", index.error());
  auto remote = connect_remote(flags);
  if (!remote) return fail("connecting", remote.error());
  auto opened = remote->client->fetch_checkpoint(remote->key);
  if (!opened) return fail("checkpoint refused", opened.error());
  const tlog::Checkpoint& checkpoint = opened->checkpoint;
  if (*index >= checkpoint.size) {
    std::fprintf(stderr, "pmos-log: index %llu is not in the tree of size %llu (yet)\n",
                 static_cast<unsigned long long>(*index), static_cast<unsigned long long>(checkpoint.size));
    return kCheckFailed;
  }
  auto entry = remote->client->fetch_entry(*index, checkpoint.size);
  if (!entry) return fail("fetching the entry", entry.error());
  if (flags.contains("entry")) {
    auto expected = read_file(flag(flags, "entry"));
    if (!expected) return fail("--entry", expected.error());
    if (*expected != *entry) {
      std::fputs("pmos-log: FAILED: the log holds a different entry at this index\n", stderr);
      return kCheckFailed;
    }
  }
  auto proof = remote->client->inclusion_proof(*index, checkpoint.size);
  if (!proof) return fail("inclusion proof", proof.error());
  auto verified = tlog::verify_inclusion(*index, checkpoint.size, tlog::leaf_hash(*entry), *proof, checkpoint.root);
  if (!verified) return fail("FAILED: inclusion proof", verified.error());
  std::printf("OK entry %llu (%zu bytes, leaf %s) is in %s at size %llu\n", static_cast<unsigned long long>(*index),
              entry->size(), to_hex(tlog::leaf_hash(*entry)).c_str(), checkpoint.origin.c_str(),
              static_cast<unsigned long long>(checkpoint.size));
  return kVerified;
}

// Checks that `current` extends `old`, with a proof from the log's tiles.
ErrorOr<void> check_consistent(tlogd::LogClient& client, const tlog::Checkpoint& old, const tlog::Checkpoint& current) {
  if (current.size < old.size) return Error::crypto("the log shrank: current checkpoint is smaller than the old one");
  auto proof = TRY(client.consistency_proof(old.size, current.size));
  return tlog::verify_consistency(old.size, current.size, old.root, current.root, proof);
}

int verify_consistency(const Flags& flags) {
  auto remote = connect_remote(flags);
  if (!remote) return fail("connecting", remote.error());
  auto old_note = read_text(flag(flags, "old"));
  if (!old_note) return fail("--old", old_note.error());
  auto old = tlog::open_checkpoint(*old_note, remote->key.name(), remote->key);
  if (!old) return fail("old checkpoint refused", old.error());
  auto current = remote->client->fetch_checkpoint(remote->key);
  if (!current) return fail("checkpoint refused", current.error());
  auto consistent = check_consistent(*remote->client, old->checkpoint, current->checkpoint);
  if (!consistent) return fail("FAILED: consistency", consistent.error());
  std::printf("OK size %llu extends size %llu\n", static_cast<unsigned long long>(current->checkpoint.size),
              static_cast<unsigned long long>(old->checkpoint.size));
  return kVerified;
}

void progress(std::uint64_t done, std::uint64_t total, std::uint64_t bytes) {
  constexpr int kWidth = 40;
  const int filled = total == 0 ? kWidth : static_cast<int>(done * kWidth / total);
  std::fprintf(stderr, "\r[%s%s] %llu/%llu entries, %.1f MiB", std::string(static_cast<std::size_t>(filled), '#').c_str(),
               std::string(static_cast<std::size_t>(kWidth - filled), ' ').c_str(),
               static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
               static_cast<double>(bytes) / (1024.0 * 1024.0));
  if (done == total) std::fputc('\n', stderr);
}

// Follows the log: every new checkpoint must be consistent with the last
// one seen (proof from tiles), and every entry is downloaded and the tree
// recomputed locally, so the root the log signed is checked against the
// entries it serves, not only against its own hashes.
int monitor(const Flags& flags) {
  auto remote = connect_remote(flags);
  if (!remote) return fail("connecting", remote.error());
  std::chrono::milliseconds interval(5000);
  if (flags.contains("interval-ms")) {
    auto ms = parse_u64(flag(flags, "interval-ms"));
    if (!ms || *ms == 0) return fail("--interval-ms", Error::invalid_argument("must be positive"));
    interval = std::chrono::milliseconds(*ms);
  }
  tlog::MemoryHashStore tree;
  std::optional<tlog::Checkpoint> last;
  for (;;) {
    auto opened = remote->client->fetch_checkpoint(remote->key);
    if (!opened) return fail("checkpoint refused", opened.error());
    const tlog::Checkpoint current = opened->checkpoint;
    if (last) {
      auto consistent = check_consistent(*remote->client, *last, current);
      if (!consistent) return fail("FAILED: new checkpoint is not consistent with the last one", consistent.error());
    }
    // Download the new entries bundle by bundle.
    while (tree.size() < current.size) {
      const std::uint64_t start = tree.size();
      tlog::TileId bundle{0, start / tlog::kTileWidth, tlog::kTileWidth};
      const std::uint64_t in_tile = current.size - bundle.index * tlog::kTileWidth;
      if (in_tile < tlog::kTileWidth) bundle.width = static_cast<std::uint16_t>(in_tile);
      auto entries = remote->client->fetch_entry_bundle(bundle);
      if (!entries) return fail("fetching entries", entries.error());
      for (std::size_t i = start % tlog::kTileWidth; i < entries->size(); ++i)
        tree.append(tlog::leaf_hash((*entries)[i]));
      progress(tree.size(), current.size, remote->client->bytes_received());
    }
    auto root = tlog::tree_hash(tree, current.size);
    if (!root) return fail("recomputing the tree", root.error());
    if (*root != current.root) {
      std::fputs("pmos-log: FAILED: the served entries do not produce the signed root\n", stderr);
      return kCheckFailed;
    }
    if (!last || last->size != current.size)
      std::printf("OK size %llu root %s\n", static_cast<unsigned long long>(current.size), to_hex(current.root).c_str());
    std::fflush(stdout);
    last = current;
    if (flags.contains("once")) return kVerified;
    std::this_thread::sleep_for(interval);
  }
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
  auto flags = parse_flags(std::vector<std::string>(args.begin() + 1, args.end()));
  if (!flags) {
    usage();
    return kUsage;
  }
  if (command == "serve") return serve(*flags);
  if (command == "show") return show(*flags);
  if (command == "verify-inclusion") return verify_inclusion(*flags);
  if (command == "verify-consistency") return verify_consistency(*flags);
  if (command == "monitor") return monitor(*flags);
  usage();
  return kUsage;
}

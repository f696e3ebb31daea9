// pmos-server: the PMOS back end (issue 5: the relay role and the
// enrollment part of the authority role). docs/server.md is the manual.
#include <malloc.h>

#include <cstdio>
#include <string_view>

#include "src/commands.h"
#include "src/log_role.h"
#include "src/witness_role.h"

namespace {

constexpr const char* kUsage = R"(usage: pmos-server COMMAND --data DIR [options]

commands:
  init --data DIR [--org NAME] [--san-dns localhost] [--san-ip 127.0.0.1] [--database DB]
      [--mls-suite international|national]
      create the org CA, the server's TLS certificate and the database (never overwrites);
      national: also the SM2 MLS credential CA (national-ca.pem)
  enroll-token --data DIR --user USER [--ttl 24h] [--count 1] [--database DB]
      print one-time enrollment tokens for USER, one per line (only their hashes are stored)
  revoke --data DIR [--database DB] DEVICE
      revoke a device: its connections close and new ones are refused within a second
  run --data DIR [--listen 127.0.0.1:8443] [--database DB] [--threads 2] [--workers 2]
      [--max-frame-bytes 2097152] [--retention 30d] [--rate-limit 200] [--rate-burst 400]
      [--max-key-packages 1000] [--attachment-quota-bytes 268435456] [--max-connections 10000]
      [--nats URL] [--node-id ID] [--mls-suite international|national]
      serve POST /v1/enroll, the relay WebSocket /v1/relay, /healthz and /metrics
  log --data DIR [--listen 127.0.0.1:8444] [--log-origin NAME] [--log-database DB] [--interval-ms 500]
      [--witness VKEY@https://HOST:PORT,...] [--witness-quorum N] [--witness-ca FILE] [--threads 4]
      the transparency log role: tlog-tiles, POST /add (token in DIR/log-add-token), cosigned checkpoints
  witness --data DIR --log-vkey VKEY,...|@FILE [--listen 127.0.0.1:8445] [--witness-name NAME]
      [--witness-database DB]
      the tlog-witness role: POST /add-checkpoint cosigns checkpoints consistent with what it saw
  log-key --data DIR [--log-origin NAME] / witness-key --data DIR [--witness-name NAME]
      create the log's (witness's) key in DIR if missing and print its vkey

DB: a SQLite file (default DIR/relay.db) or a PostgreSQL URI (postgres://...).

Every setting --NAME may also come from the environment as PMOS_NAME (upper case,
'-' as '_', e.g. PMOS_DATABASE, PMOS_MAX_FRAME_BYTES) or from the TOML file named by
--config (default DIR/pmos-server.toml, if present), as `NAME = value`; a flag beats
the environment, which beats the file. See docs/server.md.
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace pmos::server;
  auto options = Options::parse(argc, argv, {"help"});
  if (!options) {
    std::fprintf(stderr, "pmos-server: %s\n%s", options.error().message(), kUsage);
    return 2;
  }
  std::string_view command = options->command();
  if (command.empty() || command == "help" || options->has("help")) {
    std::fputs(kUsage, command.empty() && !options->has("help") ? stderr : stdout);
    return command.empty() && !options->has("help") ? 2 : 0;
  }
  if (auto loaded = options->load_config_file(); !loaded) {
    std::fprintf(stderr, "pmos-server: %s\n", options->config_error().c_str());
    return 2;
  }
  if (command == "init") return command_init(*options);
  if (command == "enroll-token") return command_enroll_token(*options);
  if (command == "revoke") return command_revoke(*options);
  if (command == "run") {
    // SQLite's page cache frees and reallocates its pages as a connection's
    // cache is reset, and glibc's default (dynamic) thresholds hand that
    // memory back to the kernel (trim, madvise) only to fault it in again:
    // 14% of the relay's time went to page faults (docs/benchmarks.md,
    // third pass). Fixed thresholds keep up to 64 MiB of freed heap per
    // arena and serve allocations under 4 MiB from the heap.
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    return command_run(*options);
  }
  if (command == "log") return command_log(*options);
  if (command == "witness") return command_witness(*options);
  if (command == "log-key") return command_log_key(*options);
  if (command == "witness-key") return command_witness_key(*options);
  std::fprintf(stderr, "pmos-server: unknown command %s\n%s", options->command().c_str(), kUsage);
  return 2;
}

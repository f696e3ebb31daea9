#include "witness_role.h"

#include <cstdio>
#include <filesystem>

#include "log.h"
#include "pmos/tlogd/key_files.h"
#include "pmos/tlogd/witness.h"
#include "role_common.h"

namespace pmos::server {

int command_witness(const Options& options) {
  std::optional<std::string> data = options.get("data");
  if (!data || data->empty()) return role::usage_error("witness needs --data DIR");
  const DataDir dir{*data};
  auto listen = parse_listen(options.get_or("listen", "127.0.0.1:8445"));
  const std::string name = options.get_or("witness-name", "localhost/pmos-witness");
  const std::optional<std::string> log_vkeys = options.get("log-vkey");
  store::DatabaseConfig database_config = role::database(dir, options, "witness-database", "witness.db");
  if (role::refuse_unread(options)) return 2;
  if (!listen) return role::usage_error("--listen wants HOST:PORT");
  if (!log_vkeys) return role::usage_error("witness needs --log-vkey VKEY[,VKEY...] or @FILE");
  auto logs = tlogd::parse_log_vkeys(*log_vkeys);
  if (!logs) return role::usage_error("--log-vkey: Ed25519 note vkeys (name+hex id+base64)");

  role::block_signals();
  std::error_code error;
  std::filesystem::create_directories(dir.path, error);
  auto key = tlogd::load_or_create_witness_key(dir.path, name);
  if (!key) return role::fail("witness key", key.error());
  const std::string vkey = key->key.verifier().vkey();
  auto database = store::Database::create(database_config);
  if (!database) {
    std::fprintf(stderr, "pmos-server: database: %s\n", store::last_error_detail().c_str());
    return role::fail("opening the witness database", database.error());
  }
  auto witness = tlogd::Witness::open(**database, std::move(key->key), std::move(*logs));
  if (!witness) return role::fail("opening the witness", witness.error());
  net::Router router;
  auto routes = tlogd::add_witness_routes(router, **witness);
  if (!routes) return role::fail("routes", routes.error());
  auto server = role::listen(dir, *listen, std::move(router), 2, "witness");
  if (!server) return role::fail("starting the listener", server.error());
  log("info", "witness listening", {{"vkey", vkey}, {"port", (*server)->port()}});

  int signal_number = role::wait_for_signal();
  log("info", "shutting down", {{"signal", signal_number}});
  bool clean = (*server)->shutdown(std::chrono::seconds(5));
  log("info", "stopped", {{"clean", clean}});
  return 0;
}

int command_witness_key(const Options& options) {
  std::optional<std::string> data = options.get("data");
  if (!data || data->empty()) return role::usage_error("witness-key needs --data DIR");
  const std::string name = options.get_or("witness-name", "localhost/pmos-witness");
  if (role::refuse_unread(options)) return 2;
  std::error_code error;
  std::filesystem::create_directories(*data, error);
  auto key = tlogd::load_or_create_witness_key(*data, name);
  if (!key) return role::fail("witness key", key.error());
  std::printf("%s\n", key->key.verifier().vkey().c_str());
  return 0;
}

}  // namespace pmos::server

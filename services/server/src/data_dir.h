#pragma once

#include <string>

#include "pmos/base/error_or.h"
#include "pmos/store/relay_store.h"

namespace pmos::server {

// The files of a server's data directory (docs/server.md):
//   ca.pem  ca.key       the org CA (the key signs every device certificate: SECRET)
//   server.pem server.key the server's TLS certificate and key
//   relay.db (+ -wal, -shm) the SQLite database, unless --database names PostgreSQL
//   national-ca.pem national-ca.key  the SM2 MLS credential CA, made when the
//                          policy is the national suite (mls-suite = "national")
struct DataDir {
  std::string path;

  std::string ca_cert() const { return path + "/ca.pem"; }
  std::string ca_key() const { return path + "/ca.key"; }
  std::string server_cert() const { return path + "/server.pem"; }
  std::string server_key() const { return path + "/server.key"; }
  std::string national_ca_cert() const { return path + "/national-ca.pem"; }
  std::string national_ca_key() const { return path + "/national-ca.key"; }
  std::string sqlite_database() const { return path + "/relay.db"; }
};

// Where the database is: `--database` (or $PMOS_DATABASE) if given, a
// postgres:// or postgresql:// URI or a libpq "key=value" string for
// PostgreSQL, anything else a SQLite file; by default DIR/relay.db.
store::DatabaseConfig database_config(const DataDir& dir, const std::string& database_flag);

}  // namespace pmos::server

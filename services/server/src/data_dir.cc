#include "data_dir.h"

namespace pmos::server {

store::DatabaseConfig database_config(const DataDir& dir, const std::string& database_flag) {
  store::DatabaseConfig config;
  if (database_flag.empty()) {
    config.backend = store::Backend::kSqlite;
    config.location = dir.sqlite_database();
  } else if (database_flag.starts_with("postgres://") || database_flag.starts_with("postgresql://") ||
             database_flag.find('=') != std::string::npos) {
    config.backend = store::Backend::kPostgres;
    config.location = database_flag;
  } else {
    config.backend = store::Backend::kSqlite;
    config.location = database_flag;
  }
  return config;
}

}  // namespace pmos::server

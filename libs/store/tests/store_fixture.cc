#include "store_fixture.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>

#include "pg_throwaway.h"

namespace pmos::store::testing {
namespace {

// Starts the cluster lazily, so that a process running only SQLite tests
// (ctest runs each test in its own process) never pays for initdb.
class PostgresEnvironment : public ::testing::Environment {
 public:
  std::string conninfo() {
    if (const char* given = std::getenv("PMOS_TEST_POSTGRES"); given != nullptr && *given != '\0') {
      return given;
    }
    // Under ctest: the cluster of the store_postgres fixture.
    if (const char* file = std::getenv("PMOS_TEST_POSTGRES_FILE"); file != nullptr && *file != '\0') {
      std::ifstream in(file);
      std::string line;
      if (!std::getline(in, line) || line.empty()) ADD_FAILURE() << "no connection string in " << file;
      return line;
    }
    if (cluster_ == nullptr) {
      auto started = PgThrowaway::start(PMOS_SOURCE_DIR "/scripts/pg-throwaway");
      if (!started.has_value()) {
        ADD_FAILURE() << "cannot start a PostgreSQL cluster: " << started.error().to_string();
        return {};
      }
      cluster_ = std::move(started).release_value();
    }
    return cluster_->conninfo();
  }

  void TearDown() override { cluster_.reset(); }

 private:
  std::unique_ptr<PgThrowaway> cluster_;
};

PostgresEnvironment* const g_postgres = static_cast<PostgresEnvironment*>(
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment));

std::atomic<int> g_next_schema{0};

}  // namespace

std::string postgres_conninfo() { return g_postgres->conninfo(); }

std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

void StoreTest::SetUp() {
  if (backend() == Backend::kSqlite) {
    std::string pattern = (std::filesystem::temp_directory_path() / "pmos-store-test.XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    directory_ = pattern;
    return;
  }
  std::string conninfo = postgres_conninfo();
  ASSERT_FALSE(conninfo.empty());
  schema_ = "test_" + std::to_string(getpid()) + "_" + std::to_string(g_next_schema++);
  DatabaseConfig admin;
  admin.backend = Backend::kPostgres;
  admin.location = conninfo;
  admin.max_connections = 1;
  ASSERT_OK_AND_ASSIGN(auto database, Database::create(admin));
  ASSERT_OK_AND_ASSIGN(auto transaction, database->begin_write());
  ASSERT_OK(transaction.execute_script("CREATE SCHEMA " + schema_));
  ASSERT_OK(transaction.commit());
}

void StoreTest::TearDown() {
  if (!directory_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }
  if (!schema_.empty()) {
    DatabaseConfig admin;
    admin.backend = Backend::kPostgres;
    admin.location = postgres_conninfo();
    admin.max_connections = 1;
    ASSERT_OK_AND_ASSIGN(auto database, Database::create(admin));
    ASSERT_OK_AND_ASSIGN(auto transaction, database->begin_write());
    ASSERT_OK(transaction.execute_script("DROP SCHEMA " + schema_ + " CASCADE"));
    ASSERT_OK(transaction.commit());
  }
}

DatabaseConfig StoreTest::database_config() const {
  DatabaseConfig config;
  config.backend = backend();
  if (backend() == Backend::kSqlite) {
    config.location = (directory_ / "store.db").string();
  } else {
    config.location = postgres_conninfo() + " options='-c search_path=" + schema_ + "'";
  }
  return config;
}


RelayStoreConfig StoreTest::relay_config() const {
  RelayStoreConfig config;
  config.database = database_config();
  return config;
}

}  // namespace pmos::store::testing

namespace pmos::store {
void PrintTo(Backend backend, std::ostream* out) { *out << to_string(backend); }
}  // namespace pmos::store

#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "pmos/store/database.h"
#include "pmos/store/relay_store.h"

namespace pmos::store::testing {

// Fails the test with the error and the driver's detail unless `expr` holds
// a value; evaluates to the value.
#define PMOS_STORE_CONCAT_(a, b) a##b
#define PMOS_STORE_CONCAT(a, b) PMOS_STORE_CONCAT_(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(PMOS_STORE_CONCAT(_store_result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(result, lhs, expr)                                                \
  auto&& result = (expr);                                                                           \
  ASSERT_TRUE(result.has_value()) << result.error().to_string() << " (" << last_error_detail() << ")"; \
  lhs = std::move(result).release_value()

#define ASSERT_OK(expr)                                                                 \
  do {                                                                                  \
    auto&& _store_result = (expr);                                                      \
    ASSERT_TRUE(_store_result.has_value())                                              \
        << _store_result.error().to_string() << " (" << last_error_detail() << ")";     \
  } while (0)

// The connection string of the PostgreSQL cluster the tests use: the one in
// $PMOS_TEST_POSTGRES if set (e.g. `scripts/pg-throwaway -- ctest ...`),
// otherwise a throwaway cluster this process starts on first use and stops
// when the test program ends. Empty with a test failure if it cannot start.
std::string postgres_conninfo();

// Parameterized over the back end: each test gets an empty database of its
// own (SQLite: a file in a fresh temporary directory; PostgreSQL: a fresh
// schema, put first on the search_path of every connection) and removes it.
class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  Backend backend() const { return GetParam(); }
  DatabaseConfig database_config() const;
  RelayStoreConfig relay_config() const;
  const std::filesystem::path& directory() const { return directory_; }

 private:
  std::filesystem::path directory_;
  std::string schema_;
};

std::string backend_name(const ::testing::TestParamInfo<Backend>& info);

#define PMOS_STORE_BACKENDS(suite)                                                            \
  INSTANTIATE_TEST_SUITE_P(Backends, suite,                                                   \
                           ::testing::Values(::pmos::store::Backend::kSqlite,                 \
                                             ::pmos::store::Backend::kPostgres),              \
                           ::pmos::store::testing::backend_name)

}  // namespace pmos::store::testing

namespace pmos::store {
// For gtest's test names: "GetParam() = postgres".
void PrintTo(Backend backend, std::ostream* out);
}  // namespace pmos::store

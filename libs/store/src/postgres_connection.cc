// The PostgreSQL back end on libpq: one PGconn per Connection, statements
// prepared once per connection, parameters and results in binary format (no
// hex round trip for bytea, no integer parsing).

#include <endian.h>
#include <libpq-fe.h>

#include <charconv>
#include <cstring>
#include <map>
#include <string>

#include "connection.h"
#include "pmos/base/openssl_ptr.h"  // FnDeleter

namespace pmos::store::detail {
namespace {

using PgConnPtr = std::unique_ptr<PGconn, FnDeleter<PQfinish>>;
using PgResultPtr = std::unique_ptr<PGresult, FnDeleter<PQclear>>;

// Type OIDs from the pg_type catalog (src/include/catalog/pg_type.dat);
// libpq's headers do not export them.
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kTextOid = 25;
constexpr Oid kVarcharOid = 1043;
constexpr Oid kNameOid = 19;

void discard_notice(void*, const char*) {
  // NOTICEs ("relation already exists, skipping") are not errors; libpq's
  // default would print them on stderr.
}

Error error_for_result(PGconn* conn, const PGresult* result) {
  const char* message = result != nullptr ? PQresultErrorMessage(result) : PQerrorMessage(conn);
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string detail = state != nullptr ? std::string(state) + ": " : std::string();
  detail += message != nullptr ? message : "";
  set_error_detail(detail);
  if (state != nullptr) {
    std::string_view code(state);
    // 40001 serialization_failure, 40P01 deadlock_detected, 55P03
    // lock_not_available: the transaction is rolled back and a retry may
    // succeed.
    if (code == "40001" || code == "40P01" || code == "55P03") return kDatabaseBusy;
    // Class 23: integrity constraint violation.
    if (code.starts_with("23")) return kConstraintViolation;
  }
  return kDatabaseError;
}

class PostgresConnection final : public Connection {
 public:
  explicit PostgresConnection(PgConnPtr conn) : conn_(std::move(conn)) {}

  Backend backend() const override { return Backend::kPostgres; }

  ErrorOr<void> begin(bool) override {
    // A server restart or a dropped TCP connection leaves the handle bad;
    // reconnect between transactions, never inside one. Statements
    // prepared on the old session are gone with it.
    if (PQstatus(conn_.get()) != CONNECTION_OK) {
      statements_.clear();
      PQreset(conn_.get());
      if (PQstatus(conn_.get()) != CONNECTION_OK) return error_for_result(conn_.get(), nullptr);
      TRY(configure());
    }
    // READ COMMITTED is enough: every race the relay has is settled by a
    // row lock and a re-checked WHERE (the epoch compare-and-swap, token
    // consumption, SKIP LOCKED claims), never by a read-then-write.
    return simple("BEGIN");
  }

  ErrorOr<void> commit() override {
    // COMMIT of a transaction that already failed reports success with the
    // tag ROLLBACK; refuse it here so that the caller cannot think a
    // failed transaction became durable.
    if (PQtransactionStatus(conn_.get()) == PQTRANS_INERROR) {
      rollback();
      set_error_detail("COMMIT of a failed transaction");
      return kDatabaseError;
    }
    PgResultPtr result(PQexec(conn_.get(), "COMMIT"));
    if (PQresultStatus(result.get()) != PGRES_COMMAND_OK) return error_for_result(conn_.get(), result.get());
    if (std::strcmp(PQcmdStatus(result.get()), "COMMIT") != 0) {
      set_error_detail("COMMIT rolled back");
      return kDatabaseBusy;
    }
    return {};
  }

  void rollback() override {
    if (PQtransactionStatus(conn_.get()) == PQTRANS_IDLE) return;
    PgResultPtr result(PQexec(conn_.get(), "ROLLBACK"));
  }

  ErrorOr<std::int64_t> execute(std::string_view sql, std::span<const Param> params,
                                std::vector<Row>* rows) override {
    // Parameter types are fixed when a statement is prepared, so the cache
    // key includes them: one SQL text may be used with NULL in a place
    // where another call binds an int64.
    std::string key(sql);
    key += '\0';
    for (const Param& param : params) key += static_cast<char>('0' + static_cast<int>(param.kind()));

    const std::string* name = TRY(prepare(key, sql, params));

    std::vector<const char*> values(params.size());
    std::vector<int> lengths(params.size());
    std::vector<int> formats(params.size(), 1);
    std::vector<std::uint64_t> integers(params.size());
    for (std::size_t i = 0; i < params.size(); ++i) {
      const Param& param = params[i];
      switch (param.kind()) {
        case Param::Kind::kNull:
          values[i] = nullptr;
          break;
        case Param::Kind::kInt64:
          integers[i] = htobe64(static_cast<std::uint64_t>(param.int64()));
          values[i] = reinterpret_cast<const char*>(&integers[i]);
          lengths[i] = 8;
          break;
        case Param::Kind::kText:
          // A non-null pointer even when empty: null means SQL NULL.
          values[i] = param.text().empty() ? "" : param.text().data();
          lengths[i] = static_cast<int>(param.text().size());
          break;
        case Param::Kind::kBlob:
          values[i] = param.blob().empty() ? "" : reinterpret_cast<const char*>(param.blob().data());
          lengths[i] = static_cast<int>(param.blob().size());
          break;
      }
    }
    PgResultPtr result(PQexecPrepared(conn_.get(), name->c_str(), static_cast<int>(params.size()),
                                      values.data(), lengths.data(), formats.data(), /*resultFormat=*/1));
    ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      return error_for_result(conn_.get(), result.get());
    }
    if (rows != nullptr && status == PGRES_TUPLES_OK) TRY(read_rows(result.get(), *rows));
    std::int64_t changed = 0;
    std::string_view tuples(PQcmdTuples(result.get()));
    std::from_chars(tuples.data(), tuples.data() + tuples.size(), changed);
    return changed;
  }

  ErrorOr<void> execute_script(std::string_view sql) override {
    std::string text = translate_sql(Backend::kPostgres, sql);
    PgResultPtr result(PQexec(conn_.get(), text.c_str()));
    ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      return error_for_result(conn_.get(), result.get());
    }
    return {};
  }

  ErrorOr<void> configure() {
    PQsetNoticeProcessor(conn_.get(), discard_notice, nullptr);
    // Durability is the session's to choose in PostgreSQL: pin it, so that a
    // server or role configured with synchronous_commit=off cannot make us
    // ack writes that a crash would lose.
    return simple("SET synchronous_commit = on; SET client_encoding = 'UTF8'");
  }

 private:
  ErrorOr<void> simple(const char* command) {
    PgResultPtr result(PQexec(conn_.get(), command));
    if (PQresultStatus(result.get()) != PGRES_COMMAND_OK) return error_for_result(conn_.get(), result.get());
    return {};
  }

  ErrorOr<const std::string*> prepare(const std::string& key, std::string_view sql,
                                      std::span<const Param> params) {
    auto it = statements_.find(key);
    if (it != statements_.end()) return &it->second;
    std::string name = "pmos_" + std::to_string(statements_.size());
    std::string text = translate_sql(Backend::kPostgres, sql);
    std::vector<Oid> types(params.size(), 0);
    for (std::size_t i = 0; i < params.size(); ++i) {
      switch (params[i].kind()) {
        case Param::Kind::kNull: types[i] = 0; break;  // let the server infer
        case Param::Kind::kInt64: types[i] = kInt8Oid; break;
        case Param::Kind::kText: types[i] = kTextOid; break;
        case Param::Kind::kBlob: types[i] = kByteaOid; break;
      }
    }
    PgResultPtr result(PQprepare(conn_.get(), name.c_str(), text.c_str(), static_cast<int>(types.size()),
                                 types.data()));
    if (PQresultStatus(result.get()) != PGRES_COMMAND_OK) return error_for_result(conn_.get(), result.get());
    return &statements_.emplace(key, std::move(name)).first->second;
  }

  static ErrorOr<void> read_rows(const PGresult* result, std::vector<Row>& rows) {
    int count = PQntuples(result);
    int fields = PQnfields(result);
    rows.reserve(rows.size() + static_cast<std::size_t>(count));
    for (int r = 0; r < count; ++r) {
      std::vector<Value> columns;
      columns.reserve(static_cast<std::size_t>(fields));
      for (int c = 0; c < fields; ++c) {
        if (PQgetisnull(result, r, c)) {
          columns.emplace_back(std::monostate{});
          continue;
        }
        const char* data = PQgetvalue(result, r, c);
        auto length = static_cast<std::size_t>(PQgetlength(result, r, c));
        columns.push_back(TRY(decode_binary(PQftype(result, c), data, length)));
      }
      rows.emplace_back(std::move(columns));
    }
    return {};
  }

  // Binary output format: integers big-endian, bool one byte, text and bytea
  // their raw bytes.
  static ErrorOr<Value> decode_binary(Oid type, const char* data, std::size_t length) {
    auto be = [&](std::size_t width) -> ErrorOr<std::uint64_t> {
      if (length != width) {
        set_error_detail("integer column of unexpected width");
        return Error::decode("integer column of unexpected width");
      }
      std::uint64_t value = 0;
      for (std::size_t i = 0; i < width; ++i) value = (value << 8) | static_cast<std::uint8_t>(data[i]);
      return value;
    };
    switch (type) {
      case kInt8Oid: return static_cast<std::int64_t>(TRY(be(8)));
      case kInt4Oid: return static_cast<std::int64_t>(static_cast<std::int32_t>(TRY(be(4))));
      case kInt2Oid: return static_cast<std::int64_t>(static_cast<std::int16_t>(TRY(be(2))));
      case kBoolOid: return static_cast<std::int64_t>(TRY(be(1)));
      case kByteaOid: return Bytes(data, data + length);
      case kTextOid:
      case kVarcharOid:
      case kNameOid:
        return std::string(data, length);
      default:
        set_error_detail("a result column has a type the store does not read");
        return Error::unsupported("a result column has a type the store does not read");
    }
  }

  PgConnPtr conn_;
  std::map<std::string, std::string, std::less<>> statements_;  // key -> prepared name
};

}  // namespace

ErrorOr<std::unique_ptr<Connection>> open_postgres(const DatabaseConfig& config) {
  PgConnPtr conn(PQconnectdb(config.location.c_str()));
  if (conn == nullptr) {
    set_error_detail("PQconnectdb: out of memory");
    return kDatabaseError;
  }
  if (PQstatus(conn.get()) != CONNECTION_OK) return error_for_result(conn.get(), nullptr);
  auto connection = std::make_unique<PostgresConnection>(std::move(conn));
  TRY(connection->configure());
  return std::unique_ptr<Connection>(std::move(connection));
}

}  // namespace pmos::store::detail

#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "pmos/base/bytes.h"

namespace pmos::store {

// One statement parameter: an int64, a text, a blob or NULL. It borrows text
// and blob bytes from the caller, so binding copies nothing; the borrowed
// bytes must outlive the call that binds them (every call that takes Params
// finishes with them before it returns).
//
// Text and blob are distinct SQL types (TEXT vs BLOB/BYTEA): a std::string or
// string_view binds as text, Bytes or BytesView as a blob.
class Param {
 public:
  enum class Kind : std::uint8_t { kNull, kInt64, kText, kBlob };

  Param(std::nullptr_t) : kind_(Kind::kNull) {}
  template <std::integral I>
  Param(I value) : kind_(Kind::kInt64), int_(static_cast<std::int64_t>(value)) {}
  Param(std::string_view text) : kind_(Kind::kText), data_(text.data()), size_(text.size()) {}
  Param(const char* text) : Param(std::string_view(text)) {}
  Param(const std::string& text) : Param(std::string_view(text)) {}
  Param(BytesView blob) : kind_(Kind::kBlob), data_(blob.data()), size_(blob.size()) {}
  Param(const Bytes& blob) : Param(BytesView(blob)) {}
  template <typename T>
  Param(const std::optional<T>& value) : Param(nullptr) {
    if (value.has_value()) *this = Param(*value);
  }

  Kind kind() const { return kind_; }
  std::int64_t int64() const { return int_; }
  std::string_view text() const { return {static_cast<const char*>(data_), size_}; }
  BytesView blob() const { return {static_cast<const std::uint8_t*>(data_), size_}; }

 private:
  Kind kind_;
  std::int64_t int_ = 0;
  const void* data_ = nullptr;
  std::size_t size_ = 0;
};

// One column of a result row, owned.
using Value = std::variant<std::monostate, std::int64_t, std::string, Bytes>;

// One result row, owned: it stays valid after the statement and the
// transaction are gone. The accessors check the column's type: which column
// holds what is part of the query's contract, so a mismatch is a bug in the
// query and aborts (VERIFY). The one conversion allowed is text read as a
// blob and back, because SQLite hands back whatever type was stored.
//
// Not thread-safe (a plain value).
class Row {
 public:
  Row() = default;
  explicit Row(std::vector<Value> columns) : columns_(std::move(columns)) {}

  std::size_t size() const { return columns_.size(); }
  bool is_null(std::size_t column) const;
  std::int64_t int64(std::size_t column) const;
  std::string text(std::size_t column) const;
  Bytes blob(std::size_t column) const;
  // NULL reads as nullopt.
  std::optional<std::int64_t> optional_int64(std::size_t column) const;
  std::optional<Bytes> optional_blob(std::size_t column) const;

  // Moves a blob or text column out, for bodies that should not be copied.
  Bytes take_blob(std::size_t column);

  const Value& value(std::size_t column) const;

 private:
  std::vector<Value> columns_;
};

}  // namespace pmos::store

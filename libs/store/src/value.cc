#include "pmos/store/value.h"

#include "pmos/base/check.h"

namespace pmos::store {

const Value& Row::value(std::size_t column) const {
  VERIFY(column < columns_.size());
  return columns_[column];
}

bool Row::is_null(std::size_t column) const {
  return std::holds_alternative<std::monostate>(value(column));
}

std::int64_t Row::int64(std::size_t column) const {
  const auto* integer = std::get_if<std::int64_t>(&value(column));
  VERIFY(integer != nullptr);
  return *integer;
}

std::string Row::text(std::size_t column) const {
  const Value& v = value(column);
  if (const auto* blob = std::get_if<Bytes>(&v)) return std::string(as_string(*blob));
  const auto* text = std::get_if<std::string>(&v);
  VERIFY(text != nullptr);
  return *text;
}

Bytes Row::blob(std::size_t column) const {
  const Value& v = value(column);
  if (const auto* text = std::get_if<std::string>(&v)) return to_bytes(*text);
  const auto* blob = std::get_if<Bytes>(&v);
  VERIFY(blob != nullptr);
  return *blob;
}

Bytes Row::take_blob(std::size_t column) {
  VERIFY(column < columns_.size());
  if (auto* blob = std::get_if<Bytes>(&columns_[column])) return std::move(*blob);
  return blob(column);
}

std::optional<std::int64_t> Row::optional_int64(std::size_t column) const {
  if (is_null(column)) return std::nullopt;
  return int64(column);
}

std::optional<Bytes> Row::optional_blob(std::size_t column) const {
  if (is_null(column)) return std::nullopt;
  return blob(column);
}

}  // namespace pmos::store

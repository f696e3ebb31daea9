#pragma once

#include <type_traits>
#include <utility>
#include <variant>

#include "pmos/base/check.h"
#include "pmos/base/error.h"

namespace pmos {

// A value or an Error: what every fallible PMOS function returns. The names
// follow std::expected (has_value, value, error) so that a later switch to
// C++23 is mechanical. Accessing value() of an error (or error() of a value)
// is a bug and aborts (VERIFY), in every build type.
template <typename T>
class [[nodiscard]] ErrorOr {
  static_assert(!std::is_reference_v<T>, "ErrorOr holds values");
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Error>, "ErrorOr<Error> is ambiguous");

 public:
  using value_type = T;

  // clang-format off
  template <typename U = T>
    requires std::is_constructible_v<T, U&&> &&
             (!std::is_same_v<std::remove_cvref_t<U>, ErrorOr>) &&
             (!std::is_same_v<std::remove_cvref_t<U>, Error>)
  ErrorOr(U&& value) : storage_(std::in_place_index<0>, std::forward<U>(value)) {}
  // clang-format on
  ErrorOr(Error error) : storage_(std::in_place_index<1>, error) {}

  bool has_value() const { return storage_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    VERIFY(has_value());
    return *std::get_if<0>(&storage_);
  }
  const T& value() const& {
    VERIFY(has_value());
    return *std::get_if<0>(&storage_);
  }
  T&& value() && {
    VERIFY(has_value());
    return std::move(*std::get_if<0>(&storage_));
  }
  // Named after SerenityOS: moves the value out, for TRY.
  T release_value() { return std::move(value()); }

  const Error& error() const {
    VERIFY(!has_value());
    return *std::get_if<1>(&storage_);
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> storage_;
};

template <>
class [[nodiscard]] ErrorOr<void> {
 public:
  using value_type = void;

  ErrorOr() = default;
  ErrorOr(Error error) : error_(error), failed_(true) {}

  bool has_value() const { return !failed_; }
  explicit operator bool() const { return has_value(); }
  void value() const { VERIFY(has_value()); }
  void release_value() const { VERIFY(has_value()); }
  const Error& error() const {
    VERIFY(failed_);
    return error_;
  }

 private:
  Error error_{ErrorCategory::kInternal, ""};
  bool failed_ = false;
};

}  // namespace pmos

// TRY(expr): evaluate an ErrorOr; on error return it from the enclosing
// function, otherwise the expression's value is the released value. Uses a GNU
// statement expression (g++ and clang), which is why -Wpedantic stays off.
// Each expansion names its temporary uniquely, so TRYs nest.
#define PMOS_CONCAT_INNER(a, b) a##b
#define PMOS_CONCAT(a, b) PMOS_CONCAT_INNER(a, b)

#define PMOS_TRY_IMPL(expression, result, return_keyword) \
  ({                                                      \
    auto&& result = (expression);                         \
    if (!result.has_value()) [[unlikely]]                 \
      return_keyword result.error();                      \
    std::move(result).release_value();                   \
  })

#define TRY(expression) PMOS_TRY_IMPL(expression, PMOS_CONCAT(_pmos_try_, __COUNTER__), return)

// The same for coroutines, which must co_return.
#define CO_TRY(expression) PMOS_TRY_IMPL(expression, PMOS_CONCAT(_pmos_try_, __COUNTER__), co_return)

#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pmos {

// What kind of thing went wrong. Callers branch on the category; people read
// the message. Append new values at the end: they are logged as numbers.
enum class ErrorCategory : std::uint8_t {
  kInvalidArgument,  // the caller passed something unusable (wrong key length ...)
  kDecode,           // bytes from outside did not parse (truncated, trailing, bad length)
  kCrypto,           // an integrity or authenticity check failed, or OpenSSL refused
  kUnsupported,      // a valid request we do not implement (unknown suite ...)
  kNotFound,         // the named thing does not exist
  kSystem,           // a system call failed; errno() says which
  kInternal,         // a bug in PMOS: an invariant did not hold
};

std::string_view to_string(ErrorCategory category);

// An error value. Creating one never allocates: the message is a string with
// static storage duration (a literal), and the errno is a plain int. This keeps
// error paths cheap and usable where allocation itself failed.
//
// Thread-safe: immutable after construction.
class Error {
 public:
  constexpr Error(ErrorCategory category, const char* message, int errno_code = 0)
      : category_(category), message_(message), errno_(errno_code) {}

  static constexpr Error invalid_argument(const char* m) { return {ErrorCategory::kInvalidArgument, m}; }
  static constexpr Error decode(const char* m) { return {ErrorCategory::kDecode, m}; }
  static constexpr Error crypto(const char* m) { return {ErrorCategory::kCrypto, m}; }
  static constexpr Error unsupported(const char* m) { return {ErrorCategory::kUnsupported, m}; }
  static constexpr Error not_found(const char* m) { return {ErrorCategory::kNotFound, m}; }
  static constexpr Error internal(const char* m) { return {ErrorCategory::kInternal, m}; }
  // `what` names the failed call, e.g. "open"; the errno is read by the caller.
  static constexpr Error system(const char* what, int errno_code) {
    return {ErrorCategory::kSystem, what, errno_code};
  }

  constexpr ErrorCategory category() const { return category_; }
  constexpr const char* message() const { return message_; }
  constexpr int errno_code() const { return errno_; }

  // "decode: vector length exceeds the remaining input" or
  // "system: open: No such file or directory".
  std::string to_string() const;

  friend constexpr bool operator==(const Error& a, const Error& b) {
    return a.category_ == b.category_ && a.errno_ == b.errno_ &&
           std::string_view(a.message_) == std::string_view(b.message_);
  }

 private:
  ErrorCategory category_;
  const char* message_;
  int errno_;
};

}  // namespace pmos

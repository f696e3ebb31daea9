#include "pmos/base/error.h"

#include <cstring>

namespace pmos {

std::string_view to_string(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::kInvalidArgument:
      return "invalid argument";
    case ErrorCategory::kDecode:
      return "decode";
    case ErrorCategory::kCrypto:
      return "crypto";
    case ErrorCategory::kUnsupported:
      return "unsupported";
    case ErrorCategory::kNotFound:
      return "not found";
    case ErrorCategory::kSystem:
      return "system";
    case ErrorCategory::kInternal:
      return "internal";
  }
  return "unknown";
}

std::string Error::to_string() const {
  std::string text(pmos::to_string(category_));
  text += ": ";
  text += message_;
  if (errno_ != 0) {
    char buffer[128];
    // GNU strerror_r returns the message (possibly not in `buffer`).
    text += ": ";
    text += strerror_r(errno_, buffer, sizeof buffer);
  }
  return text;
}

}  // namespace pmos

#pragma once

// Standard base64 (RFC 4648 §4, with padding), as every C2SP text format
// uses it.
// FIXME: move to libs/base once a second library needs it.

#include <string>
#include <string_view>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"

namespace pmos::tlog::detail {

std::string base64_encode(BytesView bytes);
// Strict: only the standard alphabet, length a multiple of 4, '=' only as
// the final one or two characters, and zero bits in the unused low bits of
// the last symbol (RFC 4648 §3.5). So each byte string has exactly one
// accepted encoding and a signature line cannot be altered without
// changing its bytes.
ErrorOr<Bytes> base64_decode(std::string_view text);

}  // namespace pmos::tlog::detail

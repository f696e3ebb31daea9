#pragma once

#include <cstddef>
#include <cstdint>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/base/secret_bytes.h"

namespace pmos::crypto {

// Argon2id cost parameters (RFC 9106). The defaults are RFC 9106 §4's second
// recommended option (64 MiB, 3 passes), a fit for unlocking a phone.
// Stored beside whatever was derived, so that raising them later still opens
// old data.
struct Argon2Params {
  std::uint32_t passes = 3;            // t
  std::uint32_t memory_kib = 64 * 1024;  // m
  std::uint32_t parallelism = 1;       // p
};

// Argon2id(passcode, salt) -> `length` bytes, with libargon2. `secret` is the
// optional key K of RFC 9106 §3.1 (PMOS passes the device key there, so a
// stolen data partition cannot be brute-forced off the device), `associated`
// the optional data X. Salts shorter than 8 bytes, lengths under 4 and
// parameters out of range are kInvalidArgument.
ErrorOr<SecretBytes> argon2id(BytesView passcode, BytesView salt, const Argon2Params& params,
                              std::size_t length, BytesView secret = {},
                              BytesView associated = {});

}  // namespace pmos::crypto

#pragma once

// Private to libs/crypto: the one-shot signature on a context that
// EVP_DigestSignInit_ex (or a copy of one) has set up.

#include <openssl/evp.h>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"

namespace pmos::crypto::detail {

// Asks for the length, then signs; DER ECDSA signatures come out shorter
// than the maximum, so the result is cut to the length OpenSSL reports.
ErrorOr<Bytes> digest_sign(EVP_MD_CTX* ctx, BytesView message);

}  // namespace pmos::crypto::detail

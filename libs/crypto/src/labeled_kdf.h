#pragma once

// Private to libs/crypto: HPKE's LabeledExtract / LabeledExpand (RFC 9180
// §4), shared by the DHKEMs and the HPKE key schedule.

#include <string_view>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/base/secret_bytes.h"
#include "pmos/crypto/hash.h"

namespace pmos::crypto::detail {

// Extract(salt, "HPKE-v1" || suite_id || label || ikm), without building the
// concatenation.
SecretBytes labeled_extract(const Hash& kdf, BytesView suite_id, BytesView salt,
                            std::string_view label, BytesView ikm);
// Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L).
ErrorOr<SecretBytes> labeled_expand(const Hash& kdf, BytesView suite_id, BytesView prk,
                                    std::string_view label, BytesView info, std::size_t length);

}  // namespace pmos::crypto::detail

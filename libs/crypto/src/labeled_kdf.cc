#include "labeled_kdf.h"

#include <openssl/evp.h>

namespace pmos::crypto::detail {

static constexpr std::string_view kVersionLabel = "HPKE-v1";

SecretBytes labeled_extract(const Hash& kdf, BytesView suite_id, BytesView salt,
                            std::string_view label, BytesView ikm) {
  SecretBytes prk(kdf.size());
  std::uint8_t zeros[EVP_MAX_MD_SIZE] = {};
  BytesView key = salt.empty() ? BytesView(zeros, kdf.size()) : salt;  // RFC 5869 §2.2
  kdf.hmac_into(key, {as_bytes(kVersionLabel), suite_id, as_bytes(label), ikm}, prk.mutable_view());
  return prk;
}

ErrorOr<SecretBytes> labeled_expand(const Hash& kdf, BytesView suite_id, BytesView prk,
                                    std::string_view label, BytesView info, std::size_t length) {
  if (length > 0xffff) return Error::invalid_argument("HPKE LabeledExpand length exceeds 2^16 - 1");
  Bytes labeled_info;
  labeled_info.reserve(2 + kVersionLabel.size() + suite_id.size() + label.size() + info.size());
  labeled_info.push_back(static_cast<std::uint8_t>(length >> 8));
  labeled_info.push_back(static_cast<std::uint8_t>(length));
  append(labeled_info, as_bytes(kVersionLabel));
  append(labeled_info, suite_id);
  append(labeled_info, as_bytes(label));
  append(labeled_info, info);
  return kdf.expand(prk, labeled_info, length);
}

}  // namespace pmos::crypto::detail

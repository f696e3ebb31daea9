#pragma once

// Small X.509 helpers shared by the enrollment server and the chat client,
// which both read device names and sign or verify SM2 certificates.

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include <string>

#include "pmos/crypto/sm2.h"

namespace pmos::crypto {

// The first `nid` entry of `name` as UTF-8; empty when there is none.
inline std::string x509_name_entry(X509_NAME* name, int nid) {
  int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return {};
  ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int length = ASN1_STRING_to_UTF8(&utf8, value);
  if (length < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  return out;
}

// A new ASN1_OCTET_STRING holding the default SM2 ID, for
// X509(_REQ)_set0_distinguishing_id (which takes ownership); null on failure.
// Without it OpenSSL 3.0 verifies SM2 certificates under an empty ID.
inline ASN1_OCTET_STRING* new_sm2_default_id() {
  ASN1_OCTET_STRING* id = ASN1_OCTET_STRING_new();
  if (id != nullptr && ASN1_OCTET_STRING_set(id, reinterpret_cast<const unsigned char*>(kSm2DefaultId.data()),
                                             static_cast<int>(kSm2DefaultId.size())) != 1) {
    ASN1_OCTET_STRING_free(id);
    return nullptr;
  }
  return id;
}

}  // namespace pmos::crypto

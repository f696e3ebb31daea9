#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/base/secret_bytes.h"

typedef struct evp_md_st EVP_MD;
typedef struct evp_mac_ctx_st EVP_MAC_CTX;

namespace pmos::crypto {

// HPKE KDF identifiers (RFC 9180 §7.2) of HKDF over each hash.
enum class KdfId : std::uint16_t {
  kHkdfSha256 = 0x0001,
  kHkdfSha384 = 0x0002,
  kHkdfSha512 = 0x0003,
  // HKDF-SM3: not in the IANA registry. PMOS private value, unassigned there
  // (docs/formats/national-suite.md); the last digit names SM3.
  kHkdfSm3 = 0xF0A3,
};

// A hash function with the MACs and KDF built on it: HMAC (RFC 2104) and
// HKDF (RFC 5869), which is the KDF of both HPKE and MLS. The OpenSSL digest
// is fetched once, when the object is built, never per call.
//
// Instances are process-wide constants (see sha256() ...): immutable and
// thread-safe.
class Hash {
 public:
  // `openssl_name` is a digest name OpenSSL 3 knows ("SHA256", "SM3" ...).
  // Aborts if OpenSSL lacks it: the set of hashes is fixed at build time.
  Hash(std::string_view openssl_name, std::uint16_t kdf_id);
  ~Hash();
  Hash(const Hash&) = delete;
  Hash& operator=(const Hash&) = delete;

  std::uint16_t kdf_id() const { return kdf_id_; }
  std::size_t size() const { return size_; }  // Nh

  Bytes digest(BytesView data) const;
  // HMAC(key, data). The result is as secret as the key: callers that derive
  // keys use extract()/expand(), which return SecretBytes.
  Bytes hmac(BytesView key, BytesView data) const;
  void hmac_into(BytesView key, std::initializer_list<BytesView> data, MutableBytesView out) const;

  // HKDF-Extract(salt, ikm); an empty salt means Nh zero bytes (RFC 5869 §2.2).
  SecretBytes extract(BytesView salt, BytesView ikm) const;
  // HKDF-Expand(prk, info, length); length over 255 * Nh is an error.
  ErrorOr<SecretBytes> expand(BytesView prk, BytesView info, std::size_t length) const;

  const EVP_MD* evp_md() const { return md_; }

 private:
  EVP_MD* md_;
  EVP_MAC_CTX* hmac_prototype_;  // digest set, no key: duplicated per call
  std::size_t size_;
  std::uint16_t kdf_id_;
};

const Hash& sha256();
const Hash& sha384();
const Hash& sha512();
// SM3 (GB/T 32905-2016), with HMAC-SM3 and HKDF-SM3 (Nh = 32).
const Hash& sm3();
// The hash of HKDF with this HPKE KDF id, or an Unsupported error.
ErrorOr<const Hash*> hash_for_kdf(std::uint16_t kdf_id);

}  // namespace pmos::crypto

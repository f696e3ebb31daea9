#include "self_signed.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "pmos/base/openssl_ptr.h"

namespace pmos::cli {
namespace {

using BioPtr = std::unique_ptr<BIO, FnDeleter<BIO_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, FnDeleter<X509_EXTENSION_free>>;

constexpr Error kOpenssl = Error::crypto("self-signed certificate: OpenSSL refused");

ErrorOr<void> add_extension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!extension || X509_add_ext(cert, extension.get(), -1) != 1) return kOpenssl;
  return {};
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(length));
}

}  // namespace

ErrorOr<PemPair> make_self_signed(const std::string& host) {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  if (!key || !cert) return kOpenssl;
  // A random serial: two logs started on one host must not present two
  // certificates with the same issuer and serial.
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return kOpenssl;
  serial[0] &= 0x7f;
  std::unique_ptr<BIGNUM, FnDeleter<BN_free>> serial_bn(BN_bin2bn(serial, sizeof serial, nullptr));
  if (!serial_bn || !BN_to_ASN1_INTEGER(serial_bn.get(), X509_get_serialNumber(cert.get()))) return kOpenssl;
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) return kOpenssl;
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600);
  if (X509_set_pubkey(cert.get(), key.get()) != 1) return kOpenssl;
  X509_NAME* name = X509_get_subject_name(cert.get());
  const std::string cn = "pmos-log " + host;
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.data()),
                                 static_cast<int>(cn.size()), -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1)
    return kOpenssl;

  std::string san = "IP:127.0.0.1,DNS:localhost";
  unsigned char address[16];
  if (inet_pton(AF_INET, host.c_str(), address) == 1 || inet_pton(AF_INET6, host.c_str(), address) == 1) {
    if (host != "127.0.0.1") san += ",IP:" + host;
  } else if (!host.empty() && host != "localhost") {
    san += ",DNS:" + host;
  }
  TRY(add_extension(cert.get(), NID_subject_key_identifier, "hash"));
  TRY(add_extension(cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  TRY(add_extension(cert.get(), NID_key_usage, "critical,digitalSignature"));
  TRY(add_extension(cert.get(), NID_ext_key_usage, "serverAuth"));
  TRY(add_extension(cert.get(), NID_subject_alt_name, san));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) return kOpenssl;

  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
    return kOpenssl;
  return PemPair{bio_text(cert_bio.get()), bio_text(key_bio.get())};
}

}  // namespace pmos::cli

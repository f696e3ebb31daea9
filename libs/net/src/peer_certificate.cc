#include "pmos/net/peer_certificate.h"

#include <algorithm>
#include <cctype>
#include <memory>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "pmos/base/openssl_ptr.h"

namespace pmos::net {
namespace {

using BioPtr = std::unique_ptr<BIO, FnDeleter<BIO_free>>;

// UTF-8 text of every entry `nid` of `name`, in order.
std::vector<std::string> name_entries(const X509_NAME* name, int nid) {
  std::vector<std::string> out;
  for (int i = X509_NAME_get_index_by_NID(name, nid, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, nid, i)) {
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len < 0) continue;
    out.emplace_back(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
    OPENSSL_free(utf8);
  }
  return out;
}

}  // namespace

ErrorOr<PeerCertificate> PeerCertificate::from_x509(X509* cert) {
  if (cert == nullptr) return Error::invalid_argument("no certificate");
  PeerCertificate out;

  int der_len = i2d_X509(cert, nullptr);
  if (der_len <= 0) return Error::crypto("i2d_X509 failed");
  out.der.resize(static_cast<std::size_t>(der_len));
  unsigned char* p = out.der.data();
  if (i2d_X509(cert, &p) != der_len) return Error::crypto("i2d_X509 failed");

  unsigned int digest_len = 0;
  if (X509_digest(cert, EVP_sha256(), out.sha256.data(), &digest_len) != 1 ||
      digest_len != out.sha256.size())
    return Error::crypto("X509_digest failed");

  const X509_NAME* subject = X509_get_subject_name(cert);
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return Error::crypto("BIO_new failed");
  // RFC 2253 with UTF-8 kept as is (not escaped to \XX), so names read naturally.
  if (X509_NAME_print_ex(bio.get(), subject, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0)
    return Error::crypto("X509_NAME_print_ex failed");
  char* text = nullptr;
  long text_len = BIO_get_mem_data(bio.get(), &text);
  if (text_len > 0) out.subject.assign(text, static_cast<std::size_t>(text_len));

  if (auto cn = name_entries(subject, NID_commonName); !cn.empty()) out.common_name = cn.front();
  if (auto o = name_entries(subject, NID_organizationName); !o.empty()) out.organization = o.front();
  out.organizational_units = name_entries(subject, NID_organizationalUnitName);

  BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (!serial) return Error::crypto("certificate serial");
  char* hex = BN_bn2hex(serial.get());
  if (hex == nullptr) return Error::crypto("BN_bn2hex failed");
  out.serial_hex = hex;
  OPENSSL_free(hex);
  std::transform(out.serial_hex.begin(), out.serial_hex.end(), out.serial_hex.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

ErrorOr<PeerCertificate> PeerCertificate::from_der(BytesView der) {
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) return Error::decode("not a DER certificate");
  if (p != der.data() + der.size()) return Error::decode("trailing bytes after certificate");
  return from_x509(cert.get());
}

}  // namespace pmos::net

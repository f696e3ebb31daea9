#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/base/openssl_ptr.h"

namespace pmos::server {

// PEM texts of a key and its certificate.
struct KeyAndCertificate {
  std::string key_pem;   // PKCS#8, unencrypted: SECRET
  std::string cert_pem;
};

// A device certificate as issued by the org CA.
struct IssuedCertificate {
  std::string cert_pem;
  Bytes fingerprint;  // SHA-256 of the DER: how the store and libs/net name it
};

// The org CA of `init`: an EC P-256 key and a self-signed certificate
// (10 years) whose subject is "CN=<org> device CA, O=<org>".
ErrorOr<KeyAndCertificate> create_org_ca(std::string_view organization);

// The national-suite credential CA (MLS suite 0xF0A1): an SM2 key and a
// self-signed SM2-with-SM3 certificate (10 years, default distinguishing ID
// 1234567812345678) whose subject is "CN=<org> MLS credential CA (SM2),
// O=<org>". It certifies the SM2 keys devices sign MLS messages with; TLS
// stays on the org CA above (OpenSSL 3.0's TLS 1.3 has no SM2,
// docs/formats/national-suite.md).
ErrorOr<KeyAndCertificate> create_national_ca(std::string_view organization);

// The TLS certificate of the server (2 years), signed by the CA, for the
// given DNS names and IP addresses (subjectAltName).
ErrorOr<KeyAndCertificate> issue_server_certificate(const KeyAndCertificate& ca,
                                                    const std::vector<std::string>& dns_names,
                                                    const std::vector<std::string>& ip_addresses);

// A certificate signing request from a device: parsed, its self-signature
// verified, its key an acceptable type (EC P-256/P-384, Ed25519, RSA >= 2048).
ErrorOr<X509ReqPtr> parse_csr(std::string_view pem);

// The second CSR of a national-suite enrollment: an SM2 key, its
// self-signature verified under the default distinguishing ID.
ErrorOr<X509ReqPtr> parse_credential_csr(std::string_view pem);

enum class CertificatePurpose {
  kTlsClient,      // EKU clientAuth: the device's TLS client certificate
  kMlsCredential,  // no EKU: an MLS credential (national suite)
};

// The org CA loaded for issuing device certificates. Immutable after
// load(); issue_device() is thread-safe (OpenSSL signs with a const key).
class CertificateAuthority {
 public:
  static ErrorOr<std::unique_ptr<CertificateAuthority>> load(std::string_view cert_pem, std::string_view key_pem);

  // A TLS client certificate for the key of `csr`, naming the device and
  // its user: CN=<device id>, OU=<user id>, O=<org>. Nothing of the CSR's
  // subject or extensions is copied: a device cannot choose its identity.
  // An SM2 CA (the national credential CA) signs SM2-with-SM3 under the
  // default distinguishing ID.
  ErrorOr<IssuedCertificate> issue_device(X509_REQ* csr, std::string_view device_id, std::string_view user_id,
                                          std::chrono::hours validity,
                                          CertificatePurpose purpose = CertificatePurpose::kTlsClient) const;

  const std::string& cert_pem() const { return cert_pem_; }
  const std::string& organization() const { return organization_; }

 private:
  CertificateAuthority() = default;
  EvpPkeyPtr key_;
  X509Ptr cert_;
  std::string cert_pem_;
  std::string organization_;
};

}  // namespace pmos::server

#pragma once

// Device identity: the device key (made on the device, never leaves it), the
// CSR sent at enrollment, and the X.509 device certificate the org CA
// returns. Under the international policy (MLS suite 0x0001) the certificate
// is both the TLS client certificate and the MLS credential (an
// X509Credential holding it), so every peer can check that a group member is
// an enrolled device of the user it claims to be.
//
// Under the national policy (suite 0xF0A1, issue 9) TLS stays on the Ed25519
// device key and the org CA: OpenSSL 3.0 cannot use an SM2 certificate in TLS
// at all (SSL_CTX_use_certificate: "unknown certificate type"; no sm2sig_sm3
// signature algorithm, RFC 8998 is not implemented; measured in
// docs/formats/national-suite.md). The device makes a second key, SM2, for
// MLS; the server's SM2 credential CA certifies it (SM2-with-SM3 under the
// default distinguishing ID 1234567812345678) with the same user and device
// names, and that certificate is the MLS credential.

#include <memory>
#include <string>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/crypto/cipher_suite.h"
#include "pmos/mls/credential.h"
#include "pmos/mls/state.h"

namespace pmos::chat {

// Who a device certificate names (CN = device id, OU = user id).
struct DeviceName {
  std::string user_id;
  std::string device_id;
};

// A PKCS#8 PEM of the device key (for TLS) and a CSR PEM signed by it.
// SECRET: the key PEM.
struct DeviceKeyPem {
  SecretBytes key_pem;
  std::string csr_pem;
};
ErrorOr<DeviceKeyPem> device_key_pem(const crypto::CipherSuite& suite, const crypto::PrivateKey& key);

// The CSR of an SM2 key (the national suite's MLS credential key), signed
// SM2-with-SM3 under the default distinguishing ID: OpenSSL 3.0 would sign
// under an empty ID unless told.
ErrorOr<std::string> credential_csr_pem(const crypto::PrivateKey& sm2_key);

// The MLS suite policy: "international" (0x0001), "national" (0xF0A1) or a
// suite number ("0xF0A1", "61601"); the suite must exist.
ErrorOr<std::uint16_t> parse_suite_policy(std::string_view text);
// "international (0x0001)", "national (0xF0A1)", else "0x0003".
std::string suite_policy_name(std::uint16_t suite);
// The error of a device that refuses to join or create a group on `group`
// because its policy is `policy` (Error holds static text only).
Error suite_not_allowed(std::uint16_t policy, std::uint16_t group);

// The DER of a PEM certificate, and its names.
ErrorOr<Bytes> certificate_der(std::string_view pem);
ErrorOr<DeviceName> certificate_names(BytesView der);

// The pinned org CA (from enrollment): checks device certificates. Immutable
// after construction; safe to share between threads. An SM2 CA (the national
// credential CA) verifies under the default distinguishing ID.
class OrgCa {
 public:
  static ErrorOr<std::shared_ptr<const OrgCa>> from_pem(std::string_view pem);
  ~OrgCa();

  // The certificate verifies under the CA, is within its validity period,
  // and its public key is `signature_key` (the MLS leaf's key); the names
  // it carries. What an attacker gains if this is wrong: a forged member
  // that reads and writes a group under any name.
  ErrorOr<DeviceName> verify(BytesView der, BytesView signature_key) const;
  // An MLS credential validator over `ca`'s verify().
  static mls::CredentialValidator validator(std::shared_ptr<const OrgCa> ca);

  struct Impl;

 private:
  explicit OrgCa(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The names in an MLS credential (X509Credential), unverified (callers use
// this for leaves the validator already passed).
ErrorOr<DeviceName> credential_names(const mls::Credential& credential);

}  // namespace pmos::chat

#pragma once

// Device identity: the device key (made on the device, never leaves it), the
// CSR sent at enrollment, and the X.509 device certificate the org CA
// returns. The certificate is both the TLS client certificate and the MLS
// credential (an X509Credential holding it), so every peer can check that a
// group member is an enrolled device of the user it claims to be.
//
// The MLS suite decides the key type: suite 1 (Ed25519) now; the national
// suite 0xF0A1 (SM2) once the relay's TLS accepts SM2 certificates (kUnsupported
// until then).

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

// The DER of a PEM certificate, and its names.
ErrorOr<Bytes> certificate_der(std::string_view pem);
ErrorOr<DeviceName> certificate_names(BytesView der);

// The pinned org CA (from enrollment): checks device certificates. Immutable
// after construction; safe to share between threads.
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

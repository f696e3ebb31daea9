// The org CA and the certificates it issues, with OpenSSL 3. The extensions
// are those strict RFC 5280 verification (libs/net uses X509_V_FLAG_X509_STRICT)
// insists on: SKID everywhere, AKID on issued certificates, critical basic
// constraints and key usage, and an EKU that says what each key is for.

#include "pki.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "pmos/crypto/sm2.h"
#include "pmos/crypto/x509_util.h"

namespace pmos::server {
namespace {

using BioPtr = std::unique_ptr<BIO, FnDeleter<BIO_free_all>>;

constexpr Error kOpenSsl = Error::crypto("OpenSSL refused to build the certificate");

ErrorOr<EvpPkeyPtr> generate_p256() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return Error::crypto("EC P-256 key generation failed");
  return key;
}

ErrorOr<std::string> bio_text(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  if (length <= 0 || data == nullptr) return kOpenSsl;
  return std::string(data, static_cast<std::size_t>(length));
}

ErrorOr<std::string> cert_to_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return kOpenSsl;
  return bio_text(bio.get());
}

ErrorOr<std::string> key_to_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) return kOpenSsl;
  return bio_text(bio.get());
}

BioPtr memory_bio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

ErrorOr<X509Ptr> pem_to_cert(std::string_view pem) {
  BioPtr bio = memory_bio(pem);
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) return Error::decode("not a PEM certificate");
  return cert;
}

ErrorOr<EvpPkeyPtr> pem_to_key(std::string_view pem) {
  BioPtr bio = memory_bio(pem);
  EvpPkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) return Error::decode("not a PEM private key");
  return key;
}

ErrorOr<void> add_name_entry(X509_NAME* name, const char* field, std::string_view value) {
  if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(value.data()),
                                 static_cast<int>(value.size()), -1, 0) != 1)
    return Error::invalid_argument("certificate name field refused (too long or not UTF-8)");
  return {};
}

ErrorOr<void> add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (extension == nullptr) return kOpenSsl;
  int added = X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
  if (added != 1) return kOpenSsl;
  return {};
}

// A certificate skeleton: v3, a random 127-bit serial (RFC 5280 §4.1.2.2:
// positive, at most 20 octets; random so that serials reveal no count),
// valid from five minutes ago (clock skew) for `validity`.
ErrorOr<X509Ptr> new_certificate(EVP_PKEY* subject_key, std::chrono::hours validity) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) return kOpenSsl;
  BignumPtr serial(BN_new());
  if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr)
    return kOpenSsl;
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(validity.count()) * 3600) == nullptr)
    return kOpenSsl;
  if (X509_set_pubkey(cert.get(), subject_key) != 1) return kOpenSsl;
  return cert;
}

bool is_sm2(EVP_PKEY* key) { return key != nullptr && EVP_PKEY_is_a(key, "SM2") == 1; }

ErrorOr<EvpPkeyPtr> generate_sm2() {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "SM2"));
  if (!key) return Error::crypto("SM2 key generation failed");
  return key;
}

// SM2 certificates (the national credential CA) are SM2-with-SM3 under the
// default distinguishing ID. OpenSSL 3.0 signs with an EMPTY ID unless one is
// set on the signing context, and such a certificate verifies nowhere that
// follows GM/T 0015 (nor here: verifiers set the default ID).
ErrorOr<void> sign(X509* cert, EVP_PKEY* issuer_key) {
  if (!is_sm2(issuer_key)) {
    if (X509_sign(cert, issuer_key, EVP_sha256()) <= 0) return kOpenSsl;
    return {};
  }
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pkey_ctx = nullptr;  // owned by ctx
  if (!ctx || EVP_DigestSignInit_ex(ctx.get(), &pkey_ctx, "SM3", nullptr, nullptr, issuer_key, nullptr) != 1 ||
      EVP_PKEY_CTX_set1_id(pkey_ctx, crypto::kSm2DefaultId.data(), crypto::kSm2DefaultId.size()) != 1 ||
      X509_sign_ctx(cert, ctx.get()) <= 0)
    return kOpenSsl;
  return {};
}

}  // namespace

namespace {

// A self-signed CA for device certificates (ten years), of either key type.
ErrorOr<KeyAndCertificate> create_ca(EvpPkeyPtr key, std::string_view organization, const std::string& common_name) {
  X509Ptr cert = TRY(new_certificate(key.get(), std::chrono::hours(24 * 3653)));
  X509_NAME* name = X509_get_subject_name(cert.get());
  TRY(add_name_entry(name, "O", organization));
  TRY(add_name_entry(name, "CN", common_name));
  if (X509_set_issuer_name(cert.get(), name) != 1) return kOpenSsl;
  TRY(add_extension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  TRY(add_extension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  TRY(add_extension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  TRY(sign(cert.get(), key.get()));
  return KeyAndCertificate{TRY(key_to_pem(key.get())), TRY(cert_to_pem(cert.get()))};
}

}  // namespace

ErrorOr<KeyAndCertificate> create_org_ca(std::string_view organization) {
  return create_ca(TRY(generate_p256()), organization, std::string(organization) + " device CA");
}

ErrorOr<KeyAndCertificate> create_national_ca(std::string_view organization) {
  return create_ca(TRY(generate_sm2()), organization, std::string(organization) + " MLS credential CA (SM2)");
}

ErrorOr<KeyAndCertificate> issue_server_certificate(const KeyAndCertificate& ca,
                                                    const std::vector<std::string>& dns_names,
                                                    const std::vector<std::string>& ip_addresses) {
  X509Ptr ca_cert = TRY(pem_to_cert(ca.cert_pem));
  EvpPkeyPtr ca_key = TRY(pem_to_key(ca.key_pem));
  EvpPkeyPtr key = TRY(generate_p256());
  X509Ptr cert = TRY(new_certificate(key.get(), std::chrono::hours(24 * 731)));
  X509_NAME* name = X509_get_subject_name(cert.get());
  TRY(add_name_entry(name, "CN", dns_names.empty() ? std::string("pmos-server") : dns_names.front()));
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get())) != 1) return kOpenSsl;
  std::string alt_names;
  for (const std::string& dns : dns_names) alt_names += (alt_names.empty() ? "" : ",") + std::string("DNS:") + dns;
  for (const std::string& ip : ip_addresses) alt_names += (alt_names.empty() ? "" : ",") + std::string("IP:") + ip;
  if (alt_names.empty()) return Error::invalid_argument("a server certificate needs a DNS name or an IP address");
  TRY(add_extension(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  TRY(add_extension(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature"));
  TRY(add_extension(cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth"));
  TRY(add_extension(cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash"));
  TRY(add_extension(cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always"));
  TRY(add_extension(cert.get(), ca_cert.get(), NID_subject_alt_name, alt_names));
  TRY(sign(cert.get(), ca_key.get()));
  return KeyAndCertificate{TRY(key_to_pem(key.get())), TRY(cert_to_pem(cert.get()))};
}

ErrorOr<X509ReqPtr> parse_csr(std::string_view pem) {
  BioPtr bio = memory_bio(pem);
  X509ReqPtr csr(bio ? PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!csr) return Error::decode("csr is not a PEM certificate request");
  EVP_PKEY* key = X509_REQ_get0_pubkey(csr.get());
  if (key == nullptr) return Error::decode("csr has no public key");
  // Proof of possession: whoever enrolls holds the private key.
  if (X509_REQ_verify(csr.get(), key) != 1) return Error::crypto("csr signature does not verify");
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC: {
      char group[64] = {};
      std::size_t length = 0;
      if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &length) != 1)
        return Error::invalid_argument("csr key: unknown EC group");
      std::string_view curve(group, length);
      if (curve != "prime256v1" && curve != "P-256" && curve != "secp384r1" && curve != "P-384")
        return Error::invalid_argument("csr key: EC keys must be P-256 or P-384");
      break;
    }
    case EVP_PKEY_ED25519: break;
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(key) < 2048) return Error::invalid_argument("csr key: RSA keys must be >= 2048 bits");
      break;
    default: return Error::invalid_argument("csr key: use EC P-256/P-384, Ed25519 or RSA >= 2048");
  }
  return csr;
}

ErrorOr<X509ReqPtr> parse_credential_csr(std::string_view pem) {
  BioPtr bio = memory_bio(pem);
  X509ReqPtr csr(bio ? PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!csr) return Error::decode("credential_csr is not a PEM certificate request");
  EVP_PKEY* key = X509_REQ_get0_pubkey(csr.get());
  if (key == nullptr) return Error::decode("credential_csr has no public key");
  if (!is_sm2(key)) return Error::invalid_argument("credential_csr key: the national suite wants an SM2 key");
  ASN1_OCTET_STRING* id = crypto::new_sm2_default_id();
  if (id == nullptr) return kOpenSsl;
  X509_REQ_set0_distinguishing_id(csr.get(), id);
  // Proof of possession, under the default ID as the device signs it.
  if (X509_REQ_verify(csr.get(), key) != 1) return Error::crypto("credential_csr signature does not verify");
  return csr;
}

ErrorOr<std::unique_ptr<CertificateAuthority>> CertificateAuthority::load(std::string_view cert_pem,
                                                                          std::string_view key_pem) {
  std::unique_ptr<CertificateAuthority> ca(new CertificateAuthority());
  ca->cert_ = TRY(pem_to_cert(cert_pem));
  ca->key_ = TRY(pem_to_key(key_pem));
  if (X509_check_private_key(ca->cert_.get(), ca->key_.get()) != 1)
    return Error::invalid_argument("the CA key does not match the CA certificate");
  ca->cert_pem_ = std::string(cert_pem);
  ca->organization_ = crypto::x509_name_entry(X509_get_subject_name(ca->cert_.get()), NID_organizationName);
  return ca;
}

ErrorOr<IssuedCertificate> CertificateAuthority::issue_device(X509_REQ* csr, std::string_view device_id,
                                                              std::string_view user_id,
                                                              std::chrono::hours validity,
                                                              CertificatePurpose purpose) const {
  EVP_PKEY* device_key = X509_REQ_get0_pubkey(csr);
  if (device_key == nullptr) return Error::decode("csr has no public key");
  X509Ptr cert = TRY(new_certificate(device_key, validity));
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (!organization_.empty()) TRY(add_name_entry(name, "O", organization_));
  TRY(add_name_entry(name, "OU", user_id));
  TRY(add_name_entry(name, "CN", device_id));
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(cert_.get())) != 1) return kOpenSsl;
  TRY(add_extension(cert.get(), cert_.get(), NID_basic_constraints, "critical,CA:FALSE"));
  TRY(add_extension(cert.get(), cert_.get(), NID_key_usage, "critical,digitalSignature"));
  // An MLS credential is no TLS certificate: no EKU, so no TLS stack takes
  // it for one.
  if (purpose == CertificatePurpose::kTlsClient)
    TRY(add_extension(cert.get(), cert_.get(), NID_ext_key_usage, "clientAuth"));
  TRY(add_extension(cert.get(), cert_.get(), NID_subject_key_identifier, "hash"));
  TRY(add_extension(cert.get(), cert_.get(), NID_authority_key_identifier, "keyid:always"));
  TRY(sign(cert.get(), key_.get()));
  IssuedCertificate issued;
  issued.cert_pem = TRY(cert_to_pem(cert.get()));
  issued.fingerprint.resize(32);
  unsigned int length = 0;
  if (X509_digest(cert.get(), EVP_sha256(), issued.fingerprint.data(), &length) != 1 || length != 32) return kOpenSsl;
  return issued;
}

}  // namespace pmos::server

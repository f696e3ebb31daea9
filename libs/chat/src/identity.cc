#include "pmos/chat/identity.h"

#include <charconv>
#include <cstdio>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pmos/base/openssl_ptr.h"
#include "pmos/crypto/sm2.h"
#include "pmos/crypto/x509_util.h"

namespace pmos::chat {

namespace {

using BioPtr = std::unique_ptr<BIO, FnDeleter<BIO_free>>;

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(length));
}

ErrorOr<EvpPkeyPtr> evp_key(const crypto::CipherSuite& suite, const crypto::PrivateKey& key) {
  int type;
  switch (static_cast<crypto::SignatureSchemeId>(suite.signature().id())) {
    case crypto::SignatureSchemeId::kEd25519:
      type = EVP_PKEY_ED25519;
      break;
    case crypto::SignatureSchemeId::kEd448:
      type = EVP_PKEY_ED448;
      break;
    default:
      // The TLS device key. ECDSA suites (2, 3, 5, 7) would need the scalar
      // turned into an EVP key: not done, no policy names them. SM2 can
      // never be one: OpenSSL 3.0's TLS refuses SM2 certificates, so the
      // national suite keeps an Ed25519 TLS key and certifies its SM2 MLS
      // key separately (credential_csr_pem).
      return Error::unsupported("device keys of this suite's signature scheme are not supported");
  }
  BytesView raw = key.private_bytes();
  EvpPkeyPtr pkey(EVP_PKEY_new_raw_private_key(type, nullptr, raw.data(), raw.size()));
  if (!pkey) return Error::crypto("cannot import the device key");
  return pkey;
}

using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, FnDeleter<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, FnDeleter<OSSL_PARAM_free>>;

// The OpenSSL form of an SM2 key pair (scalar and point as libs/crypto
// encodes them), for signing the CSR.
ErrorOr<EvpPkeyPtr> sm2_evp_key(const crypto::PrivateKey& key) {
  BytesView scalar = key.private_bytes();
  BytesView point = key.public_key().bytes();
  // Sizes only: libs/crypto made the point from the scalar, and a CSR signed
  // with a mismatched pair would not verify under the point it carries.
  if (scalar.size() != 32 || point.size() != 65 || point[0] != 0x04)
    return Error::invalid_argument("the credential key is not an SM2 key");
  BignumPtr d(BN_bin2bn(scalar.data(), static_cast<int>(scalar.size()), nullptr));
  ParamBldPtr builder(OSSL_PARAM_BLD_new());
  if (!d || !builder ||
      OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, "SM2", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get()) != 1)
    return Error::crypto("cannot import the SM2 key");
  ParamPtr params(OSSL_PARAM_BLD_to_param(builder.get()));
  EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "SM2", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_KEYPAIR, params.get()) != 1)
    return Error::crypto("cannot import the SM2 key");
  return EvpPkeyPtr(raw);
}

ErrorOr<X509Ptr> parse_der(BytesView der) {
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert || p != der.data() + der.size()) return Error::decode("not a DER certificate");
  return cert;
}

}  // namespace

ErrorOr<DeviceKeyPem> device_key_pem(const crypto::CipherSuite& suite, const crypto::PrivateKey& key) {
  EvpPkeyPtr pkey = TRY(evp_key(suite, key));
  X509ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_pubkey(req.get(), pkey.get()) != 1) return Error::crypto("cannot build the CSR");
  // The CA ignores the subject and names the device itself; this is a hint.
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("pmos device"), -1, -1, 0);
  // EdDSA signs the message itself: no separate digest.
  if (X509_REQ_sign(req.get(), pkey.get(), nullptr) <= 0) return Error::crypto("cannot sign the CSR");
  BioPtr key_bio(BIO_new(BIO_s_secmem()));
  BioPtr req_bio(BIO_new(BIO_s_mem()));
  if (!key_bio || !req_bio) return Error::crypto("out of memory");
  if (PEM_write_bio_PrivateKey(key_bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_X509_REQ(req_bio.get(), req.get()) != 1)
    return Error::crypto("cannot write PEM");
  char* data = nullptr;
  long length = BIO_get_mem_data(key_bio.get(), &data);
  DeviceKeyPem out{SecretBytes::copy_of(BytesView(reinterpret_cast<const std::uint8_t*>(data),
                                                  static_cast<std::size_t>(length))),
                   bio_text(req_bio.get())};
  return out;
}

ErrorOr<std::string> credential_csr_pem(const crypto::PrivateKey& sm2_key) {
  EvpPkeyPtr pkey = TRY(sm2_evp_key(sm2_key));
  X509ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_pubkey(req.get(), pkey.get()) != 1) return Error::crypto("cannot build the CSR");
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("pmos device MLS credential"), -1, -1, 0);
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pkey_ctx = nullptr;  // owned by ctx
  if (!ctx || EVP_DigestSignInit_ex(ctx.get(), &pkey_ctx, "SM3", nullptr, nullptr, pkey.get(), nullptr) != 1 ||
      EVP_PKEY_CTX_set1_id(pkey_ctx, crypto::kSm2DefaultId.data(), crypto::kSm2DefaultId.size()) != 1 ||
      X509_REQ_sign_ctx(req.get(), ctx.get()) <= 0)
    return Error::crypto("cannot sign the credential CSR");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1) return Error::crypto("cannot write PEM");
  return bio_text(bio.get());
}

ErrorOr<std::uint16_t> parse_suite_policy(std::string_view text) {
  std::uint16_t suite = 0;
  if (text == "international") {
    suite = 0x0001;
  } else if (text == "national") {
    suite = 0xF0A1;
  } else {
    int base = 10;
    if (text.starts_with("0x") || text.starts_with("0X")) {
      text.remove_prefix(2);
      base = 16;
    }
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), suite, base);
    if (text.empty() || error != std::errc() || end != text.data() + text.size())
      return Error::invalid_argument("a suite is \"international\", \"national\" or an MLS cipher suite number");
  }
  TRY(crypto::CipherSuite::from_id(suite));
  return suite;
}

std::string suite_policy_name(std::uint16_t suite) {
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%04X", static_cast<unsigned>(suite));
  if (suite == 0x0001) return std::string("international (") + hex + ")";
  if (suite == 0xF0A1) return std::string("national (") + hex + ")";
  return hex;
}

Error suite_not_allowed(std::uint16_t policy, std::uint16_t group) {
  if (policy == 0x0001 && group == 0xF0A1)
    return Error::invalid_argument(
        "refused: the group is on the national MLS suite (0xF0A1) and this device's policy is international (0x0001)");
  if (policy == 0xF0A1 && group == 0x0001)
    return Error::invalid_argument(
        "refused: the group is on the international MLS suite (0x0001) and this device's policy is national (0xF0A1)");
  if (policy == 0x0001)
    return Error::invalid_argument("refused: the group's MLS suite is not international (0x0001), this device's policy");
  if (policy == 0xF0A1)
    return Error::invalid_argument("refused: the group's MLS suite is not national (0xF0A1), this device's policy");
  return Error::invalid_argument("refused: the group's MLS suite is not the one this device's policy allows");
}

ErrorOr<Bytes> certificate_der(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return Error::decode("not a PEM certificate");
  int length = i2d_X509(cert.get(), nullptr);
  if (length <= 0) return Error::decode("cannot encode the certificate");
  Bytes der(static_cast<std::size_t>(length));
  unsigned char* p = der.data();
  i2d_X509(cert.get(), &p);
  return der;
}

ErrorOr<DeviceName> certificate_names(BytesView der) {
  X509Ptr cert = TRY(parse_der(der));
  X509_NAME* subject = X509_get_subject_name(cert.get());
  DeviceName name{crypto::x509_name_entry(subject, NID_organizationalUnitName), crypto::x509_name_entry(subject, NID_commonName)};
  if (name.user_id.empty() || name.device_id.empty())
    return Error::decode("device certificate does not name a user (OU) and a device (CN)");
  return name;
}

ErrorOr<DeviceName> credential_names(const mls::Credential& credential) {
  const auto* x509 = std::get_if<mls::X509Credential>(&credential.value);
  if (x509 == nullptr || x509->certificates.empty()) return Error::decode("credential is not an X.509 device certificate");
  return certificate_names(x509->certificates.front().cert_data);
}

struct OrgCa::Impl {
  X509Ptr ca;
};

OrgCa::OrgCa(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OrgCa::~OrgCa() = default;

ErrorOr<std::shared_ptr<const OrgCa>> OrgCa::from_pem(std::string_view pem) {
  Bytes der = TRY(certificate_der(pem));
  auto impl = std::make_unique<Impl>();
  impl->ca = TRY(parse_der(der));
  return std::shared_ptr<const OrgCa>(new OrgCa(std::move(impl)));
}

ErrorOr<DeviceName> OrgCa::verify(BytesView der, BytesView signature_key) const {
  X509Ptr cert = TRY(parse_der(der));
  if (X509_check_issued(impl_->ca.get(), cert.get()) != X509_V_OK)
    return Error::crypto("device certificate is not issued by the org CA");
  EVP_PKEY* ca_key = X509_get0_pubkey(impl_->ca.get());
  if (ca_key != nullptr && EVP_PKEY_is_a(ca_key, "SM2") == 1) {
    // Without it OpenSSL 3.0 verifies under an empty ID and refuses every
    // certificate signed as GM/T 0015 says.
    ASN1_OCTET_STRING* id = crypto::new_sm2_default_id();
    if (id == nullptr) return Error::crypto("out of memory");
    X509_set0_distinguishing_id(cert.get(), id);
  }
  if (ca_key == nullptr || X509_verify(cert.get(), ca_key) != 1)
    return Error::crypto("device certificate signature does not verify under the org CA");
  if (X509_cmp_current_time(X509_get0_notBefore(cert.get())) >= 0 ||
      X509_cmp_current_time(X509_get0_notAfter(cert.get())) <= 0)
    return Error::crypto("device certificate is not valid now");
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  if (key == nullptr) return Error::decode("device certificate has no usable public key");
  std::uint8_t encoded[256];
  std::size_t length = 0;
  // EdDSA keys: the raw string; EC keys: the encoded (uncompressed) point,
  // as MLS encodes signature keys.
  length = sizeof encoded;
  if (EVP_PKEY_get_raw_public_key(key, encoded, &length) != 1 &&
      EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, encoded, sizeof encoded, &length) != 1)
    return Error::decode("device certificate public key cannot be encoded");
  // Public values: no need for a constant-time comparison.
  if (BytesView(encoded, length).size() != signature_key.size() ||
      !std::equal(signature_key.begin(), signature_key.end(), encoded))
    return Error::crypto("MLS signature key is not the device certificate's key");
  return certificate_names(der);
}

mls::CredentialValidator OrgCa::validator(std::shared_ptr<const OrgCa> ca) {
  return [ca = std::move(ca)](const mls::Credential& credential, BytesView signature_key) -> ErrorOr<void> {
    const auto* x509 = std::get_if<mls::X509Credential>(&credential.value);
    if (x509 == nullptr || x509->certificates.empty())
      return Error::crypto("member credential is not an X.509 device certificate");
    TRY(ca->verify(x509->certificates.front().cert_data, signature_key));
    return {};
  };
}

}  // namespace pmos::chat

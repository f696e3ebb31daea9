#include "pmos/chat/identity.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "pmos/base/openssl_ptr.h"
#include "pmos/crypto/signature.h"
#include "pmos/crypto/sm2.h"

namespace pmos::chat {
namespace {

std::string pem_of(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

// A CA as pmos-server makes one: the org CA (EC P-256, ECDSA with SHA-256)
// or the national credential CA (SM2, SM2-with-SM3 under `id`: the default ID
// unless a test wants the OpenSSL 3.0 trap, an empty ID). It issues device
// certificates with CN = device, OU = user, for the key of a CSR.
struct TestCa {
  bool sm2 = false;
  EvpPkeyPtr key;
  X509Ptr cert{X509_new()};

  explicit TestCa(bool national = false)
      : sm2(national), key(national ? EVP_PKEY_Q_keygen(nullptr, nullptr, "SM2") : EVP_EC_gen("P-256")) {
    X509_NAME* name = X509_get_subject_name(cert.get());
    fill(cert.get(), 1, key.get());
    const char* cn = sm2 ? "sm2 CA" : "test CA";
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    sign(cert.get(), crypto::kSm2DefaultId);
  }
  static void fill(X509* out, long serial, EVP_PKEY* subject_key) {
    X509_set_version(out, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(out), serial);
    X509_gmtime_adj(X509_getm_notBefore(out), -60);
    X509_gmtime_adj(X509_getm_notAfter(out), 3600);
    X509_set_pubkey(out, subject_key);
  }
  void sign(X509* out, std::string_view id) {
    if (!sm2) {
      ASSERT_GT(X509_sign(out, key.get(), EVP_sha256()), 0);
      return;
    }
    EvpMdCtxPtr ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    ASSERT_EQ(EVP_DigestSignInit_ex(ctx.get(), &pctx, "SM3", nullptr, nullptr, key.get(), nullptr), 1);
    if (!id.empty()) {
      ASSERT_EQ(EVP_PKEY_CTX_set1_id(pctx, id.data(), id.size()), 1);
    }
    ASSERT_GT(X509_sign_ctx(out, ctx.get()), 0);
  }
  std::string issue(const std::string& csr_pem, const char* user, const char* device,
                    std::string_view id = crypto::kSm2DefaultId) {
    BIO* bio = BIO_new_mem_buf(csr_pem.data(), static_cast<int>(csr_pem.size()));
    X509ReqPtr req(PEM_read_bio_X509_REQ(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    X509Ptr out(X509_new());
    fill(out.get(), 2, X509_REQ_get0_pubkey(req.get()));
    X509_NAME* name = X509_get_subject_name(out.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(device), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(user), -1, -1, 0);
    X509_set_issuer_name(out.get(), X509_get_subject_name(cert.get()));
    sign(out.get(), id);
    return pem_of(out.get());
  }
};

// What either CA must do for a device's key: the certificate it issues for
// `csr` names alice's device 0123abcd, and as an MLS credential it passes the
// validator with `key` and is refused with `other` (a key of the same kind).
void expect_credential_accepted(TestCa& ca, const std::string& csr, BytesView key, BytesView other) {
  Bytes der = certificate_der(ca.issue(csr, "alice", "0123abcd")).value();
  auto org = OrgCa::from_pem(pem_of(ca.cert.get())).value();
  auto name = org->verify(der, key);
  ASSERT_TRUE(name.has_value()) << name.error().to_string();
  EXPECT_EQ(name->user_id, "alice");
  EXPECT_EQ(name->device_id, "0123abcd");
  auto validator = OrgCa::validator(org);
  mls::Credential credential{mls::X509Credential{{mls::Certificate{der}}}};
  EXPECT_TRUE(validator(credential, key).has_value());
  EXPECT_FALSE(validator(credential, other).has_value());
}

TEST(Identity, DeviceCertificateVerifiesAgainstTheOrgCa) {
  auto suite = crypto::CipherSuite::from_id(1).value();
  auto key = suite.signature().generate().value();
  auto pem = device_key_pem(suite, key);
  ASSERT_TRUE(pem.has_value()) << pem.error().to_string();
  EXPECT_NE(std::string(as_string(pem->key_pem.view())).find("PRIVATE KEY"), std::string::npos);
  TestCa ca;
  auto other = suite.signature().generate().value();
  expect_credential_accepted(ca, pem->csr_pem, key.public_key().bytes(), other.public_key().bytes());
  auto org = OrgCa::from_pem(pem_of(ca.cert.get())).value();
  auto validator = OrgCa::validator(org);
  // A basic credential: refused.
  EXPECT_FALSE(validator(mls::Credential{mls::BasicCredential{to_bytes("alice")}}, key.public_key().bytes()).has_value());
  // A certificate from another CA: refused.
  TestCa rogue;
  Bytes rogue_der = certificate_der(rogue.issue(pem->csr_pem, "alice", "0123abcd")).value();
  EXPECT_FALSE(org->verify(rogue_der, key.public_key().bytes()).has_value());
  // Garbage: refused.
  EXPECT_FALSE(org->verify(Bytes{1, 2, 3}, key.public_key().bytes()).has_value());
}

TEST(Identity, CertificateWithoutNamesIsRefused) {
  auto suite = crypto::CipherSuite::from_id(1).value();
  auto key = suite.signature().generate().value();
  auto pem = device_key_pem(suite, key).value();
  TestCa ca;
  Bytes der = certificate_der(ca.issue(pem.csr_pem, "", "dev")).value();
  auto org = OrgCa::from_pem(pem_of(ca.cert.get())).value();
  EXPECT_FALSE(org->verify(der, key.public_key().bytes()).has_value());
}

TEST(Identity, UnsupportedSuiteSaysSo) {
  auto suite = crypto::CipherSuite::from_id(2).value();
  auto key = suite.signature().generate().value();
  auto pem = device_key_pem(suite, key);
  ASSERT_FALSE(pem.has_value());
  EXPECT_EQ(pem.error().category(), ErrorCategory::kUnsupported);
}

// The CSR's self-signature verifies under the default ID only: OpenSSL 3.0
// would have signed under an empty one had the ID not been set.
TEST(Identity, Sm2CredentialCsrIsSignedUnderTheDefaultId) {
  auto key = crypto::sm2_sm3().generate().value();
  auto csr_pem = credential_csr_pem(key);
  ASSERT_TRUE(csr_pem.has_value()) << csr_pem.error().to_string();
  BIO* bio = BIO_new_mem_buf(csr_pem->data(), static_cast<int>(csr_pem->size()));
  X509ReqPtr req(PEM_read_bio_X509_REQ(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  ASSERT_TRUE(req);
  EVP_PKEY* pub = X509_REQ_get0_pubkey(req.get());
  ASSERT_NE(pub, nullptr);
  EXPECT_TRUE(EVP_PKEY_is_a(pub, "SM2"));
  EXPECT_NE(X509_REQ_verify(req.get(), pub), 1) << "verified under the empty ID";
  ASN1_OCTET_STRING* id = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(id, reinterpret_cast<const unsigned char*>(crypto::kSm2DefaultId.data()),
                        static_cast<int>(crypto::kSm2DefaultId.size()));
  X509_REQ_set0_distinguishing_id(req.get(), id);
  EXPECT_EQ(X509_REQ_verify(req.get(), pub), 1);
  // Not an SM2 key: refused.
  auto ed = crypto::ed25519().generate().value();
  EXPECT_FALSE(credential_csr_pem(ed).has_value());
}

TEST(Identity, Sm2CredentialVerifiesAgainstTheSm2CaUnderTheDefaultIdOnly) {
  auto key = crypto::sm2_sm3().generate().value();
  std::string csr = credential_csr_pem(key).value();
  TestCa ca(true);
  auto other = crypto::sm2_sm3().generate().value();
  expect_credential_accepted(ca, csr, key.public_key().bytes(), other.public_key().bytes());
  auto org = OrgCa::from_pem(pem_of(ca.cert.get())).value();
  Bytes der = certificate_der(ca.issue(csr, "alice", "0123abcd")).value();
  // Signed under the empty ID (OpenSSL 3.0's default): refused.
  Bytes empty_id = certificate_der(ca.issue(csr, "alice", "0123abcd", "")).value();
  EXPECT_FALSE(org->verify(empty_id, key.public_key().bytes()).has_value());
  // Another SM2 CA: refused.
  TestCa rogue(true);
  Bytes rogue_der = certificate_der(rogue.issue(csr, "alice", "0123abcd")).value();
  EXPECT_FALSE(org->verify(rogue_der, key.public_key().bytes()).has_value());
  // The international (P-256) CA does not accept it either, nor the SM2 CA
  // a P-256-signed certificate.
  TestCa p256;
  auto p256_org = OrgCa::from_pem(pem_of(p256.cert.get())).value();
  EXPECT_FALSE(p256_org->verify(der, key.public_key().bytes()).has_value());
  Bytes p256_der = certificate_der(p256.issue(csr, "alice", "0123abcd")).value();
  EXPECT_FALSE(org->verify(p256_der, key.public_key().bytes()).has_value());
}

TEST(Identity, SuitePolicyNames) {
  EXPECT_EQ(parse_suite_policy("international").value(), 0x0001);
  EXPECT_EQ(parse_suite_policy("national").value(), 0xF0A1);
  EXPECT_EQ(parse_suite_policy("0xF0A1").value(), 0xF0A1);
  EXPECT_EQ(parse_suite_policy("61601").value(), 0xF0A1);
  EXPECT_EQ(parse_suite_policy("3").value(), 3);
  for (const char* bad : {"", "National", "0x", "0xF0A1 ", "1x", "0xF0A2", "70000", "-1"})
    EXPECT_FALSE(parse_suite_policy(bad).has_value()) << bad;
  EXPECT_EQ(suite_policy_name(1), "international (0x0001)");
  EXPECT_EQ(suite_policy_name(0xF0A1), "national (0xF0A1)");
  EXPECT_EQ(suite_policy_name(3), "0x0003");
  EXPECT_STREQ(suite_not_allowed(1, 0xF0A1).message(),
               "refused: the group is on the national MLS suite (0xF0A1) and this device's policy is international "
               "(0x0001)");
  EXPECT_STREQ(suite_not_allowed(0xF0A1, 1).message(),
               "refused: the group is on the international MLS suite (0x0001) and this device's policy is national "
               "(0xF0A1)");
}

}  // namespace
}  // namespace pmos::chat

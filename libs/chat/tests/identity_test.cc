#include "pmos/chat/identity.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "pmos/base/openssl_ptr.h"

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

// A CA as pmos-server makes one (EC P-256), issuing device certificates
// with CN = device, OU = user, for the key of a CSR.
struct TestCa {
  EvpPkeyPtr key{EVP_EC_gen("P-256")};
  X509Ptr cert{X509_new()};
  TestCa() {
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("test CA"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_sign(cert.get(), key.get(), EVP_sha256());
  }
  std::string issue(const std::string& csr_pem, const char* user, const char* device) {
    BIO* bio = BIO_new_mem_buf(csr_pem.data(), static_cast<int>(csr_pem.size()));
    X509ReqPtr req(PEM_read_bio_X509_REQ(bio, nullptr, nullptr, nullptr));
    BIO_free(bio);
    X509Ptr out(X509_new());
    X509_set_version(out.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(out.get()), 2);
    X509_gmtime_adj(X509_getm_notBefore(out.get()), -60);
    X509_gmtime_adj(X509_getm_notAfter(out.get()), 3600);
    X509_set_pubkey(out.get(), X509_REQ_get0_pubkey(req.get()));
    X509_NAME* name = X509_get_subject_name(out.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(device), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(user), -1, -1, 0);
    X509_set_issuer_name(out.get(), X509_get_subject_name(cert.get()));
    X509_sign(out.get(), key.get(), EVP_sha256());
    return pem_of(out.get());
  }
};

TEST(Identity, DeviceCertificateVerifiesAgainstTheOrgCa) {
  auto suite = crypto::CipherSuite::from_id(1).value();
  auto key = suite.signature().generate().value();
  auto pem = device_key_pem(suite, key);
  ASSERT_TRUE(pem.has_value()) << pem.error().to_string();
  EXPECT_NE(std::string(as_string(pem->key_pem.view())).find("PRIVATE KEY"), std::string::npos);
  TestCa ca;
  std::string cert = ca.issue(pem->csr_pem, "alice", "0123abcd");
  Bytes der = certificate_der(cert).value();
  auto org = OrgCa::from_pem(pem_of(ca.cert.get())).value();
  auto name = org->verify(der, key.public_key().bytes());
  ASSERT_TRUE(name.has_value()) << name.error().to_string();
  EXPECT_EQ(name->user_id, "alice");
  EXPECT_EQ(name->device_id, "0123abcd");

  // The MLS validator: the credential with this cert and its key passes.
  auto validator = OrgCa::validator(org);
  mls::Credential credential{mls::X509Credential{{mls::Certificate{der}}}};
  EXPECT_TRUE(validator(credential, key.public_key().bytes()).has_value());
  // Another key with the same certificate: refused.
  auto other = suite.signature().generate().value();
  EXPECT_FALSE(validator(credential, other.public_key().bytes()).has_value());
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

}  // namespace
}  // namespace pmos::chat

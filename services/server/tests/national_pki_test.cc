// The national-suite PKI of pmos-server (issue 9): the SM2 MLS credential
// CA, the SM2 credential CSR it accepts, and the certificates it issues,
// all under the default SM2 distinguishing ID — checked here against
// OpenSSL's own X.509 verification with the ID set, and shown to fail
// without it (OpenSSL 3.0's empty-ID default).
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "pmos/crypto/sm2.h"
#include "src/enrollment.h"
#include "src/options.h"
#include "src/pki.h"

namespace pmos::server {
namespace {

std::string pem_of(X509_REQ* req) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(bio, req);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

X509Ptr cert_of(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509Ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return cert;
}

// A CSR of a fresh key of `algorithm`; SM2 ones signed under `id`.
std::string csr(const char* algorithm, std::string_view id = crypto::kSm2DefaultId) {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, algorithm));
  X509ReqPtr req(X509_REQ_new());
  X509_REQ_set_pubkey(req.get(), key.get());
  EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  bool sm2 = std::string_view(algorithm) == "SM2";
  EVP_DigestSignInit_ex(ctx.get(), &pctx, sm2 ? "SM3" : nullptr, nullptr, nullptr, key.get(), nullptr);
  if (sm2 && !id.empty()) EVP_PKEY_CTX_set1_id(pctx, id.data(), id.size());
  X509_REQ_sign_ctx(req.get(), ctx.get());
  return pem_of(req.get());
}

void set_default_id(X509* cert) {
  ASN1_OCTET_STRING* id = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(id, reinterpret_cast<const unsigned char*>(crypto::kSm2DefaultId.data()),
                        static_cast<int>(crypto::kSm2DefaultId.size()));
  X509_set0_distinguishing_id(cert, id);
}

TEST(NationalPki, CredentialCaIssuesSm2CertificatesUnderTheDefaultId) {
  auto made = create_national_ca("Agency");
  ASSERT_TRUE(made.has_value()) << made.error().to_string();
  X509Ptr ca_cert = cert_of(made->cert_pem);
  ASSERT_TRUE(ca_cert);
  EXPECT_EQ(X509_get_signature_nid(ca_cert.get()), NID_SM2_with_SM3);
  EXPECT_TRUE(EVP_PKEY_is_a(X509_get0_pubkey(ca_cert.get()), "SM2"));
  // Self-signed under the default ID, and not under the empty one.
  EXPECT_NE(X509_verify(ca_cert.get(), X509_get0_pubkey(ca_cert.get())), 1);
  set_default_id(ca_cert.get());
  EXPECT_EQ(X509_verify(ca_cert.get(), X509_get0_pubkey(ca_cert.get())), 1);

  auto ca = CertificateAuthority::load(made->cert_pem, made->key_pem);
  ASSERT_TRUE(ca.has_value()) << ca.error().to_string();
  EXPECT_EQ((*ca)->organization(), "Agency");
  auto request = parse_credential_csr(csr("SM2"));
  ASSERT_TRUE(request.has_value()) << request.error().to_string();
  auto issued = (*ca)->issue_device(request->get(), "00ff", "alice", std::chrono::hours(24),
                                    CertificatePurpose::kMlsCredential);
  ASSERT_TRUE(issued.has_value()) << issued.error().to_string();
  X509Ptr cert = cert_of(issued->cert_pem);
  ASSERT_TRUE(cert);
  EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_SM2_with_SM3);
  EXPECT_NE(X509_verify(cert.get(), X509_get0_pubkey(ca_cert.get())), 1);
  set_default_id(cert.get());
  EXPECT_EQ(X509_verify(cert.get(), X509_get0_pubkey(ca_cert.get())), 1);
  EXPECT_EQ(X509_check_issued(ca_cert.get(), cert.get()), X509_V_OK);
  // An MLS credential: no EKU, so no TLS stack takes it for a client certificate.
  EXPECT_EQ(X509_get_ext_by_NID(cert.get(), NID_ext_key_usage, -1), -1);
  EXPECT_EQ(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_CLIENT, 0), 1)
      << "no EKU and keyUsage digitalSignature: OpenSSL's purpose check alone does not tell";
}

TEST(NationalPki, CredentialCsrMustBeSm2UnderTheDefaultId) {
  EXPECT_TRUE(parse_credential_csr(csr("SM2")).has_value());
  // Signed under the empty ID (what OpenSSL 3.0 does unless told): refused.
  EXPECT_FALSE(parse_credential_csr(csr("SM2", "")).has_value());
  EXPECT_FALSE(parse_credential_csr(csr("SM2", "another id")).has_value());
  EXPECT_FALSE(parse_credential_csr(csr("ED25519")).has_value());
  EXPECT_FALSE(parse_credential_csr("not a CSR").has_value());
  // SM2 is not a TLS key here (OpenSSL 3.0's TLS refuses SM2 certificates).
  EXPECT_FALSE(parse_csr(csr("SM2")).has_value());
}

TEST(NationalPki, SuitePolicyNames) {
  EXPECT_EQ(parse_mls_suite_policy("international").value(), 0x0001);
  EXPECT_EQ(parse_mls_suite_policy("national").value(), 0xF0A1);
  for (const char* bad : {"", "National", "0xF0A1", "1", "sm"}) EXPECT_FALSE(parse_mls_suite_policy(bad).has_value());
}

// The policy is a setting like the others: the config file names it.
TEST(NationalPki, ConfigFileNamesTheSuite) {
  std::string path = (std::filesystem::temp_directory_path() /
                      ("pmos-national-" + std::to_string(::getpid()) + ".toml")).string();
  std::ofstream(path) << "mls-suite = \"national\"\n";
  std::string flag = "--config=" + path;
  char* argv[] = {const_cast<char*>("pmos-server"), const_cast<char*>("run"), flag.data()};
  auto options = Options::parse(3, argv, {});
  ASSERT_TRUE(options.has_value());
  ::unsetenv("PMOS_MLS_SUITE");
  ASSERT_TRUE(options->load_config_file().has_value()) << options->config_error();
  EXPECT_EQ(options->get_or("mls-suite", "international"), "national");
  EXPECT_EQ(parse_mls_suite_policy(options->get_or("mls-suite", "international")).value(), 0xF0A1);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace pmos::server

#include "test_pki.h"

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

namespace pmos::net::testing {
namespace {

using BioPtr = std::unique_ptr<BIO, FnDeleter<BIO_free>>;

// A test helper: failures abort, they are not part of what is tested.
void require(bool ok, const char* what) {
  if (!ok) {
    ADD_FAILURE() << "test PKI: " << what;
    std::abort();
  }
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  require(ext != nullptr, "X509V3_EXT_conf_nid");
  require(X509_add_ext(cert, ext, -1) == 1, "X509_add_ext");
  X509_EXTENSION_free(ext);
}

struct Subject {
  std::string cn;
  std::string ou;
};

// Issues a certificate for a fresh P-256 key. `issuer` null: self-signed.
Credential make(const Subject& subject, const Credential* issuer, bool is_ca,
                const char* extended_key_usage, const char* subject_alt_name) {
  static std::atomic<std::uint64_t> serial{1000};
  Credential out;
  out.key.reset(EVP_EC_gen("P-256"));
  require(out.key != nullptr, "EVP_EC_gen");
  out.cert.reset(X509_new());
  X509* cert = out.cert.get();
  require(X509_set_version(cert, X509_VERSION_3) == 1, "version");
  require(ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert), serial++) == 1, "serial");
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
  require(X509_set_pubkey(cert, out.key.get()) == 1, "pubkey");
  X509_NAME* name = X509_get_subject_name(cert);
  auto add = [&](const char* field, const std::string& value) {
    require(X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char*>(value.data()),
                                       static_cast<int>(value.size()), -1, 0) == 1,
            "subject");
  };
  add("O", "PMOS Test Agency");
  if (!subject.ou.empty()) add("OU", subject.ou);
  add("CN", subject.cn);
  X509* issuer_cert = issuer ? issuer->cert.get() : cert;
  require(X509_set_issuer_name(cert, X509_get_subject_name(issuer_cert)) == 1, "issuer");

  add_ext(cert, issuer_cert, NID_subject_key_identifier, "hash");
  if (is_ca) {
    add_ext(cert, issuer_cert, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(cert, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(cert, issuer_cert, NID_authority_key_identifier, "keyid:always");
    add_ext(cert, issuer_cert, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(cert, issuer_cert, NID_key_usage, "critical,digitalSignature");
    add_ext(cert, issuer_cert, NID_ext_key_usage, extended_key_usage);
    if (subject_alt_name) add_ext(cert, issuer_cert, NID_subject_alt_name, subject_alt_name);
  }
  EVP_PKEY* signing_key = issuer ? issuer->key.get() : out.key.get();
  require(X509_sign(cert, signing_key, EVP_sha256()) > 0, "X509_sign");

  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  require(PEM_write_bio_X509(cert_bio.get(), cert) == 1, "PEM cert");
  out.cert_pem = bio_text(cert_bio.get());
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  require(PEM_write_bio_PrivateKey(key_bio.get(), out.key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1,
          "PEM key");
  out.key_pem = bio_text(key_bio.get());
  return out;
}

}  // namespace

Sha256Fingerprint Credential::fingerprint() const {
  Sha256Fingerprint out{};
  unsigned int len = 0;
  require(X509_digest(cert.get(), EVP_sha256(), out.data(), &len) == 1, "X509_digest");
  return out;
}

TestCa::TestCa(const std::string& common_name)
    : ca_(make({common_name, {}}, nullptr, /*is_ca=*/true, nullptr, nullptr)) {}

Credential TestCa::issue_server(const std::string& common_name) const {
  return make({common_name, {}}, &ca_, false, "serverAuth", "IP:127.0.0.1,DNS:localhost");
}

Credential TestCa::issue_client(const std::string& common_name, const std::string& organizational_unit) const {
  return make({common_name, organizational_unit}, &ca_, false, "clientAuth", nullptr);
}

Pki::Pki()
    : org_ca("PMOS Test Org CA"),
      foreign_ca("Somebody Else's CA"),
      server(org_ca.issue_server("relay.test")),
      device1(org_ca.issue_client("device-1", "user-alice")),
      device2(org_ca.issue_client("device-2", "user-bob")),
      foreign_device(foreign_ca.issue_client("device-1", "user-alice")) {}

TlsServerConfig Pki::server_tls(ClientCertMode mode) const {
  TlsServerConfig tls;
  tls.certificate_chain = PemSource::memory(server.cert_pem);
  tls.private_key = PemSource::memory(server.key_pem);
  tls.client_ca = PemSource::memory(org_ca.cert_pem());
  tls.client_cert_mode = mode;
  return tls;
}

TlsClientConfig Pki::client_tls(const Credential* cert) const {
  TlsClientConfig tls;
  tls.ca = PemSource::memory(org_ca.cert_pem());
  if (cert) {
    tls.certificate_chain = PemSource::memory(cert->cert_pem);
    tls.private_key = PemSource::memory(cert->key_pem);
  }
  return tls;
}

const Pki& pki() {
  static const Pki instance;
  return instance;
}

std::unique_ptr<Server> start_server(Router router, const std::function<void(ServerConfig&)>& adjust) {
  ServerConfig config;
  config.threads = 2;
  config.tls = pki().server_tls();
  if (adjust) adjust(config);
  auto server = Server::create(std::move(config), std::move(router));
  if (!server) {
    ADD_FAILURE() << "Server::create: " << server.error().to_string();
    std::abort();
  }
  server.value()->start();
  return std::move(server).release_value();
}

WebSocketHandlers echo_handlers() {
  WebSocketHandlers handlers;
  handlers.on_message = [](WebSocketSession& session, Bytes message) { session.send(std::move(message)); };
  return handlers;
}

bool eventually(const std::function<bool()>& condition, Millis timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(Millis(5));
  }
  return true;
}

}  // namespace pmos::net::testing

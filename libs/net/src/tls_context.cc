#include "tls_context.h"

#include <cerrno>
#include <fstream>
#include <iterator>
#include <sstream>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "pmos/base/openssl_ptr.h"

namespace pmos::net {

ErrorOr<std::string> PemSource::load() const {
  switch (kind_) {
    case Kind::kNone: return Error::invalid_argument("no PEM source given");
    case Kind::kMemory: return value_;
    case Kind::kFile: {
      std::ifstream in(value_, std::ios::binary);
      if (!in) return Error::system("open PEM file", errno);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (in.bad()) return Error::system("read PEM file", errno);
      return text;
    }
  }
  return Error::internal("unknown PEM source");
}

namespace detail {
namespace {

using BioPtr = std::unique_ptr<BIO, FnDeleter<BIO_free>>;

// A string holding a private key, wiped when it goes out of scope.
struct WipedString {
  std::string text;
  ~WipedString() { OPENSSL_cleanse(text.data(), text.size()); }
};

// Every certificate in a PEM text; kDecode if there is none.
ErrorOr<std::vector<X509Ptr>> parse_certificates(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Error::crypto("BIO_new_mem_buf failed");
  std::vector<X509Ptr> out;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(cert);
  ERR_clear_error();  // the loop ends on a "no start line" error
  if (out.empty()) return Error::decode("no certificate in PEM");
  return out;
}

// TLS 1.3 only, both ends (issue 5). No compression, no renegotiation to
// speak of in 1.3. Groups: X25519 first, then the NIST curves.
ErrorOr<void> restrict_to_tls13(SSL_CTX* ctx) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
    return Error::crypto("cannot restrict to TLS 1.3");
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION);
  if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1)
    return Error::crypto("cannot set key exchange groups");
  return {};
}

ErrorOr<void> use_certificate_and_key(asio::ssl::context& ctx, const PemSource& chain,
                                      const PemSource& key) {
  std::string chain_pem = TRY(chain.load());
  WipedString key_pem{TRY(key.load())};
  ErrorCode ec;
  ctx.use_certificate_chain(asio::buffer(chain_pem), ec);
  if (ec) return Error::crypto("cannot load certificate chain");
  ctx.use_private_key(asio::buffer(key_pem.text), asio::ssl::context::pem, ec);
  if (ec) return Error::crypto("cannot load private key");
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1)
    return Error::crypto("private key does not match the certificate");
  return {};
}

}  // namespace

ErrorOr<std::unique_ptr<asio::ssl::context>> make_server_context(const TlsServerConfig& config) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  TRY(restrict_to_tls13(native));
  TRY(use_certificate_and_key(*ctx, config.certificate_chain, config.private_key));

  // No resumption: a resumed session skips certificate verification and with
  // it accept_peer, so a revoked device holding a ticket would get back in.
  // A full handshake per connection is the price.
  SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  if (SSL_CTX_set_num_tickets(native, 0) != 1) return Error::crypto("cannot disable tickets");

  if (config.client_cert_mode == ClientCertMode::kNone) {
    ctx->set_verify_mode(asio::ssl::verify_none);
    return ctx;
  }

  std::string ca_pem = TRY(config.client_ca.load());
  auto cas = TRY(parse_certificates(ca_pem));
  X509_STORE* store = SSL_CTX_get_cert_store(native);
  for (const X509Ptr& ca : cas) {
    if (X509_STORE_add_cert(store, ca.get()) != 1) return Error::crypto("cannot add client CA");
    // Named in the CertificateRequest so a client with several certificates
    // picks the one from our CA.
    if (SSL_CTX_add_client_CA(native, ca.get()) != 1) return Error::crypto("cannot add client CA name");
  }
  // Strict RFC 5280 checks; the chain is org CA -> device, so depth 2 is plenty.
  X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(native), X509_V_FLAG_X509_STRICT);
  SSL_CTX_set_verify_depth(native, 4);

  asio::ssl::verify_mode mode = asio::ssl::verify_peer;
  if (config.client_cert_mode == ClientCertMode::kRequired) mode |= asio::ssl::verify_fail_if_no_peer_cert;
  ctx->set_verify_mode(mode);

  // OpenSSL calls this for each certificate of the chain, root first; the
  // leaf (depth 0) is the device. If accept_peer were skipped here a revoked
  // device would complete the handshake; Server also re-checks after
  // registering the connection (see Connection::handshake).
  ctx->set_verify_callback([accept = config.accept_peer](bool preverified,
                                                         asio::ssl::verify_context& vc) {
    if (!preverified) return false;
    X509_STORE_CTX* store_ctx = vc.native_handle();
    if (X509_STORE_CTX_get_error_depth(store_ctx) != 0 || !accept) return true;
    bool ok = false;
    auto peer = PeerCertificate::from_x509(X509_STORE_CTX_get_current_cert(store_ctx));
    try {
      ok = peer.has_value() && accept(peer.value());
    } catch (...) {
      // Never let an exception unwind through OpenSSL's C frames.
      ok = false;
    }
    if (!ok) X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_CERT_REVOKED);
    return ok;
  });
  return ctx;
}

ErrorOr<std::unique_ptr<asio::ssl::context>> make_client_context(const TlsClientConfig& config) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  TRY(restrict_to_tls13(native));
  if (config.ca.empty()) {
    if (SSL_CTX_set_default_verify_paths(native) != 1) return Error::crypto("no system trust store");
  } else {
    std::string ca_pem = TRY(config.ca.load());
    auto cas = TRY(parse_certificates(ca_pem));
    X509_STORE* store = SSL_CTX_get_cert_store(native);
    for (const X509Ptr& ca : cas)
      if (X509_STORE_add_cert(store, ca.get()) != 1) return Error::crypto("cannot add CA");
  }
  if (!config.certificate_chain.empty() || !config.private_key.empty())
    TRY(use_certificate_and_key(*ctx, config.certificate_chain, config.private_key));
  ctx->set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

ErrorOr<void> set_expected_server_name(SSL* ssl, std::string_view name) {
  std::string n(name);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  ErrorCode ec;
  asio::ip::make_address(n, ec);
  if (!ec) {
    // An IP address: matched against iPAddress SANs; SNI carries no IPs (RFC 6066 §3).
    if (X509_VERIFY_PARAM_set1_ip_asc(param, n.c_str()) != 1) return Error::invalid_argument("bad IP");
    return {};
  }
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (X509_VERIFY_PARAM_set1_host(param, n.c_str(), n.size()) != 1)
    return Error::invalid_argument("bad server name");
  if (SSL_set_tlsext_host_name(ssl, n.c_str()) != 1) return Error::invalid_argument("bad SNI name");
  return {};
}

}  // namespace detail
}  // namespace pmos::net

#pragma once

#include <memory>
#include <string_view>

#include <openssl/ssl.h>

#include "asio_common.h"
#include "pmos/base/error_or.h"
#include "pmos/net/tls.h"

namespace pmos::net::detail {

// A TLS 1.3-only server context: certificate chain and key, client
// certificate verification against client_ca per client_cert_mode, the
// accept_peer check in the verify callback, no session resumption.
ErrorOr<std::unique_ptr<asio::ssl::context>> make_server_context(const TlsServerConfig& config);

// A TLS 1.3-only client context that verifies the server.
ErrorOr<std::unique_ptr<asio::ssl::context>> make_client_context(const TlsClientConfig& config);

// Per connection: SNI (for DNS names) and the name or IP address the server
// certificate must carry.
ErrorOr<void> set_expected_server_name(SSL* ssl, std::string_view name);

}  // namespace pmos::net::detail

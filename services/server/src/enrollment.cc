#include "enrollment.h"

#include <optional>

#include <nlohmann/json.hpp>

#include "log.h"
#include "pmos/crypto/hash.h"
#include "pmos/crypto/random.h"

namespace pmos::server {
namespace {

net::Response refuse(int status, std::string_view code, std::string_view message) {
  return net::Response::json({{"error", message}, {"code", code}}, status);
}

}  // namespace

bool valid_user_id(std::string_view user_id) {
  if (user_id.empty() || user_id.size() > 64) return false;
  for (char c : user_id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '@' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string new_enrollment_token() { return to_hex(crypto::random_bytes(32)); }

Bytes enrollment_token_hash(std::string_view token) { return crypto::sha256().digest(as_bytes(token)); }

ErrorOr<std::uint16_t> parse_mls_suite_policy(std::string_view name) {
  if (name == "international") return std::uint16_t{0x0001};
  if (name == "national") return std::uint16_t{0xF0A1};
  return Error::invalid_argument("mls-suite is \"international\" or \"national\"");
}

net::Handler make_enrollment_handler(store::RelayStore& store, const CertificateAuthority& ca,
                                     EnrollmentConfig config) {
  return [&store, &ca, config](const net::Request& request) -> ErrorOr<net::Response> {
    auto body = request.json();
    if (!body || !body->is_object()) return refuse(400, "bad_request", "body must be a JSON object");
    for (const auto& [key, value] : body->items()) {
      if (key != "token" && key != "csr" && key != "credential_csr")
        return refuse(400, "bad_request", "unknown field in the enrollment request");
    }
    auto token_field = body->find("token");
    auto csr_field = body->find("csr");
    if (token_field == body->end() || !token_field->is_string() || csr_field == body->end() ||
        !csr_field->is_string())
      return refuse(400, "bad_request", "body must have string fields \"token\" and \"csr\"");
    auto credential_field = body->find("credential_csr");
    bool national = config.national_ca != nullptr;
    if (credential_field != body->end()) {
      if (!credential_field->is_string()) return refuse(400, "bad_request", "\"credential_csr\" must be a string");
      if (!national)
        return refuse(400, "bad_request",
                      "this server's policy is the international MLS suite (0x0001): it issues no SM2 credential");
    } else if (national) {
      // Before the token is looked at: the device retries with an SM2 key.
      return net::Response::json({{"error", "this server's policy is the national MLS suite (0xF0A1): the device "
                                            "must also send an SM2 credential_csr (a client that cannot is too old)"},
                                  {"code", "credential_csr_required"},
                                  {"mls_suite", "national"}},
                                 400);
    }
    std::string token = token_field->get<std::string>();
    if (token.empty() || token.size() > 256) return refuse(403, "unknown_token", "unknown enrollment token");

    auto csr = parse_csr(csr_field->get<std::string>());
    if (!csr) return refuse(400, "bad_csr", std::string("csr refused: ") + csr.error().message());
    X509ReqPtr credential_csr;
    if (national) {
      auto parsed = parse_credential_csr(credential_field->get<std::string>());
      if (!parsed) return refuse(400, "bad_csr", std::string("credential_csr refused: ") + parsed.error().message());
      credential_csr = std::move(*parsed);
    }

    store::TokenConsumption consumed = TRY(store.consume_enrollment_token(enrollment_token_hash(token)));
    switch (consumed.status) {
      case store::TokenStatus::kConsumed: break;
      case store::TokenStatus::kUnknown: return refuse(403, "unknown_token", "unknown enrollment token");
      case store::TokenStatus::kAlreadyUsed:
        return refuse(403, "token_used", "enrollment token was already used");
      case store::TokenStatus::kExpired: return refuse(403, "token_expired", "enrollment token has expired");
    }

    // 128 random bits: device ids are not guessable and never collide in
    // practice; add_device refusing a collision is still handled.
    std::string device_id = to_hex(crypto::random_bytes(16));
    IssuedCertificate issued =
        TRY(ca.issue_device(csr->get(), device_id, consumed.user_id, config.certificate_validity));
    std::optional<IssuedCertificate> credential;
    if (national)
      credential = TRY(config.national_ca->issue_device(credential_csr.get(), device_id, consumed.user_id,
                                                        config.certificate_validity,
                                                        CertificatePurpose::kMlsCredential));
    store::Device device{device_id, consumed.user_id, issued.fingerprint, false};
    bool added = TRY(store.add_device(device));
    if (!added) return refuse(500, "internal", "device id collision; ask for a new token");
    log("info", "device enrolled", {{"device", device_id}, {"user", consumed.user_id}, {"mls_suite", national ? "national" : "international"}});
    nlohmann::json answer = {{"device_id", device_id},
                             {"user_id", consumed.user_id},
                             {"certificate", issued.cert_pem},
                             {"ca", ca.cert_pem()}};
    if (national) {
      answer["mls_suite"] = "national";
      answer["credential"] = credential->cert_pem;
      answer["credential_ca"] = config.national_ca->cert_pem();
    }
    return net::Response::json(answer);
  };
}

}  // namespace pmos::server

#include "pmos/tlogd/witness_client.h"

namespace pmos::tlogd {

ErrorOr<WitnessReply> interpret_witness_answer(int status, std::string_view content_type, std::string_view body) {
  WitnessReply reply;
  switch (status) {
    case 200:
      reply.signatures = TRY(tlog::parse_signature_lines(body));
      if (reply.signatures.empty()) return Error::decode("witness: 200 without a signature line");
      return reply;
    case 409:
      // The spec gives the size only when the old size is wrong; a 409 for
      // a different root at the same size has no size body.
      if (content_type.starts_with("text/x.tlog.size")) {
        reply.conflict_size = TRY(tlog::parse_witness_size(body));
        return reply;
      }
      return Error::crypto("witness: 409, it holds a different checkpoint of the same size (fork?)");
    case 400:
      return Error::invalid_argument("witness: 400, request refused as malformed");
    case 403:
      return Error::crypto("witness: 403, no signature on the checkpoint verifies with its key for this log");
    case 404:
      return Error::not_found("witness: 404, the witness does not know this log's origin");
    case 422:
      return Error::crypto("witness: 422, the consistency proof does not verify against its checkpoint (fork?)");
    default:
      return Error::decode("witness: unexpected HTTP status");
  }
}

ErrorOr<std::unique_ptr<HttpWitness>> HttpWitness::create(tlog::CosignatureVerifier key, std::string_view url,
                                                          net::TlsClientConfig tls, std::chrono::milliseconds timeout) {
  auto parsed = TRY(parse_log_url(url));
  return std::unique_ptr<HttpWitness>(new HttpWitness(std::move(key), std::move(parsed), std::move(tls), timeout));
}

ErrorOr<WitnessReply> HttpWitness::add_checkpoint(const tlog::AddCheckpointRequest& request) {
  std::string body = TRY(tlog::format_add_checkpoint_request(request));
  // A kept-alive connection the witness closed in the meantime fails on
  // first use; one fresh connection tells that apart from a witness that
  // is down.
  for (int attempt = 0;; ++attempt) {
    if (!http_) http_ = TRY(net::HttpsClient::connect(tls_, url_.host, url_.port, timeout_));
    auto response = http_->request(net::Method::kPost, url_.prefix + "/add-checkpoint", body,
                                   {{"content-type", "text/plain; charset=utf-8"}}, timeout_);
    if (!response) {
      http_.reset();
      if (attempt == 0) continue;
      return response.error();
    }
    return interpret_witness_answer(response->status, response->content_type, response->body);
  }
}

ErrorOr<WitnessSpec> parse_witness_spec(std::string_view text) {
  constexpr std::string_view kSeparator = "@https://";
  auto at = text.rfind(kSeparator);
  if (at == std::string_view::npos) return Error::invalid_argument("witness: expected VKEY@https://HOST:PORT");
  auto key = TRY(tlog::CosignatureVerifier::from_vkey(text.substr(0, at)));
  return WitnessSpec{std::move(key), std::string(text.substr(at + 1))};
}

}  // namespace pmos::tlogd

#pragma once

// The log's side of C2SP tlog-witness v1.0.0: submitting a checkpoint to a
// witness (POST <prefix>/add-checkpoint) and reading its answer. The log
// service (Log, with LogConfig::witnesses) drives this after it signs a
// checkpoint; the cosignatures it gets back are verified before the log
// serves them.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pmos/base/error_or.h"
#include "pmos/net/client.h"
#include "pmos/net/tls.h"
#include "pmos/tlog/cosignature.h"
#include "pmos/tlog/note.h"
#include "pmos/tlog/witness.h"
#include "pmos/tlogd/client.h"

namespace pmos::tlogd {

// What a witness answered, reduced to what a log acts on.
struct WitnessReply {
  // 200: the signature lines, not yet verified (the caller checks them
  // with the witness's key, as the spec asks).
  std::vector<tlog::NoteSignature> signatures;
  // 409: the size of the latest checkpoint the witness cosigned for this
  // origin; resubmit with it as the old size.
  std::optional<std::uint64_t> conflict_size;
};

// Turns an HTTP answer to add-checkpoint into a WitnessReply. 409 with a
// text/x.tlog.size body is a conflict; 409 without one means the witness
// holds another root at the same size (a fork, kCrypto). 403 (the witness
// does not trust our key), 404 (unknown origin), 422 (our consistency proof
// does not verify against what it saw: a fork, kCrypto), 400 and anything
// else are errors with their own message.
ErrorOr<WitnessReply> interpret_witness_answer(int status, std::string_view content_type, std::string_view body);

// One witness the log submits to. Implementations need not be thread-safe:
// the log calls them from its integrator only.
class CheckpointWitness {
 public:
  virtual ~CheckpointWitness() = default;
  // The witness's cosignature/v1 key: its name and public key.
  virtual const tlog::CosignatureVerifier& key() const = 0;
  virtual ErrorOr<WitnessReply> add_checkpoint(const tlog::AddCheckpointRequest& request) = 0;
};

// A witness over HTTPS at "https://host:port[/submission prefix]". Keeps one
// connection alive and reconnects once when it was dropped.
class HttpWitness final : public CheckpointWitness {
 public:
  static ErrorOr<std::unique_ptr<HttpWitness>> create(tlog::CosignatureVerifier key, std::string_view url,
                                                      net::TlsClientConfig tls,
                                                      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  const tlog::CosignatureVerifier& key() const override { return key_; }
  ErrorOr<WitnessReply> add_checkpoint(const tlog::AddCheckpointRequest& request) override;

 private:
  HttpWitness(tlog::CosignatureVerifier key, LogUrl url, net::TlsClientConfig tls, std::chrono::milliseconds timeout)
      : key_(std::move(key)), url_(std::move(url)), tls_(std::move(tls)), timeout_(timeout) {}
  tlog::CosignatureVerifier key_;
  LogUrl url_;
  net::TlsClientConfig tls_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<net::HttpsClient> http_;
};

// "VKEY@https://host:port[/prefix]": a witness as given on a command line.
struct WitnessSpec {
  tlog::CosignatureVerifier key;
  std::string url;
};
ErrorOr<WitnessSpec> parse_witness_spec(std::string_view text);

}  // namespace pmos::tlogd

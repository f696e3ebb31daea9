#pragma once

#include <cstdint>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/base/unique_fd.h"
#include "pmos/device/audit.h"
#include "pmos/device/grants.h"

namespace pmos::device {

// The broker protocol (docs/device.md, "The broker protocol"): one
// SOCK_SEQPACKET socket per app, one message per request and per response,
// each at most kMaxBrokerMessage bytes, codec-encoded:
//
//   request  = version(u8 = 1) type(u8) body
//     type 1 connect: host opaque<V> (1..253 bytes), port u16 (1..65535)
//     type 2 notify:  title opaque<V> (1..128 bytes), text opaque<V> (0..1024 bytes)
//   response = version(u8 = 1) status(u8) message opaque<V> (0..512 bytes)
//     + for a granted connect, the connected socket as SCM_RIGHTS
//
// Text fields carry no control characters (bytes below 0x20, or 0x7f).
inline constexpr std::uint8_t kBrokerProtocolVersion = 1;
inline constexpr std::size_t kMaxBrokerMessage = 2048;

enum class BrokerRequestType : std::uint8_t { kConnect = 1, kNotify = 2 };
enum class BrokerStatus : std::uint8_t {
  kGranted = 0,
  kDenied = 1,      // policy: not granted to this app
  kFailed = 2,      // granted, but the connection could not be made
  kBadRequest = 3,  // the request did not parse
  kRateLimited = 4, // over the app's request rate: try again later
};

struct BrokerRequest {
  BrokerRequestType type = BrokerRequestType::kConnect;
  std::string host;  // connect
  std::uint16_t port = 0;
  std::string title;  // notify
  std::string text;
};
ErrorOr<BrokerRequest> decode_broker_request(BytesView message);
Bytes encode_broker_request(const BrokerRequest& request);

struct BrokerResponse {
  BrokerStatus status = BrokerStatus::kGranted;
  std::string message;
};
ErrorOr<BrokerResponse> decode_broker_response(BytesView message);
Bytes encode_broker_response(const BrokerResponse& response);

// The broker of one running app: the only door out of its sandbox. It
// answers the app's requests with its grants, makes granted connections from
// outside the sandbox and hands back the connected socket, and writes every
// connection, grant and denial to the audit log.
//
// One Broker per app, used by one thread (serve() blocks); the audit log is
// shared and thread-safe.
class Broker {
 public:
  struct Options {
    int connect_timeout_ms = 10000;
    // A token bucket per app: `burst` requests at once, refilled at
    // `requests_per_second`. Requests beyond it are refused (kRateLimited)
    // and recorded as one audit entry per episode, not one each, so that an
    // app cannot flood the audit log (or pmosd) with requests.
    double requests_per_second = 20;
    double burst = 50;
    std::function<std::chrono::steady_clock::time_point()> now = std::chrono::steady_clock::now;
    // Called for each granted notification (pmosd forwards them); may be empty.
    std::function<void(std::string_view app_id, std::string_view title, std::string_view text)> on_notification;
  };

  Broker(std::string app_id, Grants grants, AuditLog& audit, Options options)
      : app_id_(std::move(app_id)),
        grants_(std::move(grants)),
        audit_(audit),
        options_(std::move(options)),
        tokens_(options_.burst),
        refilled_(options_.now()) {}

  struct Outcome {
    BrokerResponse response;
    UniqueFd socket;  // the connected socket of a granted connect
  };
  // Decides one request (the bytes of one message).
  Outcome handle(BytesView message);

  // Serves the app's end of the socket pair until the app closes it (its
  // sandbox ended) or shutdown(2) is called on `socket` from another thread.
  // Descriptors the app tries to send are closed and the request refused.
  ErrorOr<void> serve(int socket);

 private:
  Outcome connect(const BrokerRequest& request);
  Outcome notify(const BrokerRequest& request);
  void audit(AuditEvent event, const std::string& detail);
  bool take_token();

  const std::string app_id_;
  const Grants grants_;
  AuditLog& audit_;
  const Options options_;
  double tokens_;
  std::chrono::steady_clock::time_point refilled_;
  std::uint64_t over_limit_ = 0;  // refused in the current episode
};

}  // namespace pmos::device

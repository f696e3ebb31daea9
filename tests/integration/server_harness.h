// The harness of the pmos-server integration tests: the real server
// process, device enrollment over HTTPS, and a blocking relay client.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "pmos/base/file.h"
#include "pmos/base/openssl_ptr.h"
#include "pmos/crypto/cipher_suite.h"
#include "pmos/mls/mls_message.h"
#include "pmos/mls/state.h"
#include "pmos/net/client.h"
#include "relay.pb.h"
#include "server_process.h"

namespace pmos::itest {

namespace pb = ::pmos::relay::v1;
using namespace std::chrono_literals;

// ---- devices

struct KeyAndCsr {
  std::string key_pem;
  std::string csr_pem;
};

inline std::string bio_string(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(length));
}

inline KeyAndCsr make_key_and_csr() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  X509ReqPtr req(X509_REQ_new());
  X509_REQ_set_pubkey(req.get(), key.get());
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("i-choose-my-name"), -1, -1, 0);
  X509_REQ_sign(req.get(), key.get(), EVP_sha256());
  BIO* key_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(key_bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  BIO* req_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(req_bio, req.get());
  KeyAndCsr out{bio_string(key_bio), bio_string(req_bio)};
  BIO_free(key_bio);
  BIO_free(req_bio);
  return out;
}

struct Device {
  std::string id;
  std::string user;
  std::string key_pem;
  std::string cert_pem;
  std::string ca_pem;

  net::TlsClientConfig tls() const {
    net::TlsClientConfig config;
    config.ca = net::PemSource::memory(ca_pem);
    config.certificate_chain = net::PemSource::memory(cert_pem);
    config.private_key = net::PemSource::memory(key_pem);
    return config;
  }
};

inline std::string ca_pem_of(const ServerProcess& server) {
  auto bytes = read_file(server.data() + "/ca.pem");
  return bytes ? std::string(as_string(*bytes)) : std::string();
}

inline net::TlsClientConfig anonymous_tls(const ServerProcess& server) {
  net::TlsClientConfig config;
  config.ca = net::PemSource::memory(ca_pem_of(server));
  return config;
}

// POST /v1/enroll; the response.
inline net::Response enroll_request(const ServerProcess& server, const std::string& token, const std::string& csr) {
  auto client = net::HttpsClient::connect(anonymous_tls(server), "127.0.0.1", server.port(), 10s);
  if (!client) return net::Response::error(599, "connect failed");
  nlohmann::json body = {{"token", token}, {"csr", csr}};
  auto response = (*client)->request(net::Method::kPost, "/v1/enroll", body.dump());
  if (!response) return net::Response::error(599, "request failed");
  return *response;
}

// A one-time token for `user` (the full user id), from the server's CLI;
// empty on failure.
inline std::string enrollment_token(const ServerProcess& server, const std::string& user,
                                    const std::string& ttl = "1h") {
  CommandResult result = server.cli("enroll-token --user " + user + " --ttl " + ttl);
  if (result.status != 0) return {};
  while (!result.out.empty() && result.out.back() == '\n') result.out.pop_back();
  return result.out;
}

// Enrolls a new device of `user`; a Device with an empty id on failure.
inline Device enroll_device(const ServerProcess& server, const std::string& user) {
  KeyAndCsr key = make_key_and_csr();
  net::Response response = enroll_request(server, enrollment_token(server, user), key.csr_pem);
  auto body = nlohmann::json::parse(response.body, nullptr, false);
  Device device;
  if (response.status != 200 || body.is_discarded()) return device;
  device.id = body["device_id"];
  device.user = user;
  device.key_pem = key.key_pem;
  device.cert_pem = body["certificate"];
  device.ca_pem = body["ca"];
  return device;
}

// ---- MLS messages (the relay reads only headers; bodies are opaque)

inline Bytes private_message(const Bytes& group_id, std::uint64_t epoch, mls::ContentType type, const std::string& text) {
  mls::PrivateMessage message;
  message.group_id = group_id;
  message.epoch = epoch;
  message.content_type = type;
  message.encrypted_sender_data = Bytes(16, 0xAB);
  message.ciphertext = to_bytes(text);
  return tls::encode(mls::MlsMessage{mls::ProtocolVersion::kMls10, message});
}

inline Bytes welcome_message(const std::string& text) {
  mls::Welcome welcome;
  welcome.cipher_suite = static_cast<mls::CipherSuiteId>(1);
  welcome.encrypted_group_info = to_bytes(text);
  return tls::encode(mls::MlsMessage{mls::ProtocolVersion::kMls10, welcome});
}

inline Bytes key_package(const std::string& name) {
  static const crypto::CipherSuite suite = crypto::CipherSuite::from_id(1).value();
  auto signer = suite.signature().generate().value();
  auto bundle =
      mls::KeyPackageBundle::create(suite, mls::Credential{mls::BasicCredential{to_bytes(name)}}, std::move(signer));
  return tls::encode(mls::MlsMessage{mls::ProtocolVersion::kMls10, bundle.value().key_package});
}

inline std::string str(const Bytes& bytes) { return std::string(as_string(bytes)); }

// ---- the relay client

class RelayClient {
 public:
  static std::unique_ptr<RelayClient> connect(const Device& device, std::uint16_t port) {
    auto ws = net::WebSocketClient::connect(device.tls(), "127.0.0.1", port, "/v1/relay", 10s);
    if (!ws) return nullptr;
    return std::unique_ptr<RelayClient>(new RelayClient(std::move(*ws)));
  }

  bool send_frame(pb::ClientFrame frame) {
    std::string bytes = frame.SerializeAsString();
    return ws_->send(as_bytes(bytes)).has_value();
  }

  // Sends `frame` and waits for its response; deliveries meanwhile are kept.
  pb::Response call(pb::ClientFrame frame, std::chrono::milliseconds timeout = 15s) {
    frame.set_request_id(++next_request_id_);
    std::uint64_t id = frame.request_id();
    if (!send_frame(std::move(frame))) return failed("send failed");
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto found = responses_.find(id);
      if (found != responses_.end()) {
        pb::Response response = found->second;
        responses_.erase(found);
        return response;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms || !read_one(left)) return failed("no response");
    }
  }

  std::optional<pb::Delivery> next_delivery(std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (deliveries_.empty()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms || !read_one(left)) return std::nullopt;
    }
    pb::Delivery delivery = deliveries_.front();
    deliveries_.erase(deliveries_.begin());
    return delivery;
  }

  void ack(std::int64_t up_to) {
    pb::ClientFrame frame;
    frame.mutable_ack()->set_up_to_seq(up_to);
    send_frame(std::move(frame));
  }

  // Reads until the server closes (or `timeout`); the close code, or 0.
  int wait_for_close(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return 0;
      auto message = ws_->receive(left);
      if (!message) {
        auto info = ws_->close_info();
        return info ? info->code : (message.error().errno_code() == ETIMEDOUT ? 0 : 1006);
      }
    }
  }

  net::WebSocketClient& ws() { return *ws_; }

  pb::Response send_message(const Bytes& group, std::uint64_t epoch, const std::string& client_id,
                            const std::string& text) {
    pb::ClientFrame frame;
    frame.mutable_send_message()->set_client_message_id(client_id);
    frame.mutable_send_message()->set_message(str(private_message(group, epoch, mls::ContentType::kApplication, text)));
    return call(std::move(frame));
  }

  pb::Response create_group(const Bytes& group, const std::vector<std::string>& members) {
    pb::ClientFrame frame;
    frame.mutable_create_group()->set_group_id(str(group));
    for (const auto& member : members) frame.mutable_create_group()->add_member_devices(member);
    return call(std::move(frame));
  }

 private:
  explicit RelayClient(std::unique_ptr<net::WebSocketClient> ws) : ws_(std::move(ws)) {}

  static pb::Response failed(const std::string& why) {
    pb::Response response;
    response.set_status(pb::STATUS_UNSPECIFIED);
    response.set_error("client: " + why);
    return response;
  }

  bool read_one(std::chrono::milliseconds timeout) {
    auto message = ws_->receive(timeout);
    if (!message) return false;
    pb::ServerFrame frame;
    if (!frame.ParseFromArray(message->data(), static_cast<int>(message->size()))) return false;
    if (frame.has_response()) responses_[frame.response().request_id()] = frame.response();
    if (frame.has_delivery()) deliveries_.push_back(frame.delivery());
    return true;
  }

  std::unique_ptr<net::WebSocketClient> ws_;
  std::uint64_t next_request_id_ = 0;
  std::map<std::uint64_t, pb::Response> responses_;
  std::vector<pb::Delivery> deliveries_;
};

}  // namespace pmos::itest

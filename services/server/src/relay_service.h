#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <functional>
#include <unordered_map>
#include <vector>

#include "pmos/net/websocket.h"
#include "pmos/store/relay_store.h"
#include "metrics.h"
#include "rate_limiter.h"
#include "worker_pool.h"

namespace pmos::relay::v1 {
class ClientFrame;
class Response;
class ServerFrame;
}  // namespace pmos::relay::v1

namespace pmos::server {

// The bytes of ServerFrame{delivery} for one recipient. `delivery_fields` is
// a Delivery serialized without its seq (field 1), built once per message
// and shared by its recipients; the result is what serializing the whole
// frame with that seq gives, without copying and re-encoding the message per
// recipient.
Bytes encode_delivery_frame(std::int64_t seq, BytesView delivery_fields);

struct RelayConfig {
  std::size_t workers = 2;
  // Deliveries sent to one connection and not yet acked. The relay stops
  // pushing at this many and resumes on the ack, so a slow device never
  // overflows libs/net's outgoing queue (Limits::ws_queue_depth, which must
  // be larger) and a large backlog streams instead of arriving at once.
  std::size_t delivery_window = 128;
  std::size_t max_key_packages_per_publish = 100;
  std::size_t max_key_package_bytes = 64 * 1024;
  std::size_t max_client_message_id_bytes = 64;
  std::size_t max_group_id_bytes = 255;
  std::size_t max_group_members = 10'000;
  std::size_t max_attachment_bytes = 1024 * 1024;
  std::chrono::seconds attachment_ttl = std::chrono::hours(24 * 7);
  // Per device: requests per second (sustained, 0 = no limit) and burst.
  // Acks are never limited: they only free the device's own queue.
  double rate_limit = 200;
  double rate_burst = 400;
  // Requests of one connection accepted but not yet handled; beyond, the
  // frame is answered RATE_LIMITED at once instead of queued.
  std::size_t max_pending_requests = 1024;
  // Per-device quotas: unclaimed key packages stored, unexpired attachment
  // bytes stored (0 = no quota).
  std::int64_t max_key_packages = 1000;
  std::int64_t attachment_quota_bytes = 256LL << 20;
};

// The relay role (MLS Delivery Service, issue 5) behind the WebSocket route
// /v1/relay: one connection per device session, authenticated by libs/net
// with the device certificate (CN = device id, OU = user id); frames are
// proto/relay.proto (docs/formats/relay.md).
//
// Per connection, requests are handled one after another on a worker pool
// (store calls block; WebSocket callbacks must not), while writes go through
// the store's group commit asynchronously, so one device can pipeline sends.
// Sends and acks, which never block, run on the connection's I/O thread
// when nothing of that connection is queued or running, and a committed
// message with few recipients is pushed to idle ones on the store's writer
// thread (a large fan-out goes to the workers): a 1:1 send crosses threads
// only to the writer and back.
// Deliveries are pushed from the device's durable queue, in sequence order,
// at most RelayConfig::delivery_window unacked at a time; an ack reads the
// queue again only if something was held back.
//
// Thread-safe. The store must outlive the service. Shut down in this order:
// net::Server::shutdown, RelayService::shutdown, then destroy the store.
class RelayService {
 public:
  RelayService(store::RelayStore& store, RelayConfig config);
  ~RelayService();
  RelayService(const RelayService&) = delete;
  RelayService& operator=(const RelayService&) = delete;

  net::WebSocketHandlers handlers();

  // Waits for the store operations in flight to complete, then stops the
  // workers.
  void shutdown();

  std::size_t connection_count() const;
  std::uint64_t messages_in() const { return messages_in_.load(); }
  std::uint64_t deliveries_out() const { return deliveries_out_.load(); }
  std::uint64_t rate_limited() const { return rate_limited_.load(); }
  // Durable writes (sends, commits): submit to commit, group commit included.
  const LatencyHistogram& store_write_latency() const { return store_write_latency_; }
  std::uint64_t quota_refusals() const { return quota_refusals_.load(); }
  // Requests accepted and waiting for a worker, over all connections.
  std::int64_t pending_requests() const { return pending_requests_.load(); }
  // Wakes the device's connections on this node: called for deliveries
  // stored by another relay node (services/server/src/nats_bridge.h).
  void wake_local_device(const std::string& device_id) { wake_device(device_id); }
  // Wakes every connection on this node (after a lost NATS link: wake-ups
  // may have been missed; each connection re-reads its queue).
  void wake_all_local();
  // Called with the devices whose queues this node just wrote, so other
  // nodes can wake their connections. Set before serving.
  void set_remote_waker(std::function<void(const std::vector<std::string>&)> waker) {
    remote_waker_ = std::move(waker);
  }

  struct Connection;

 private:
  void on_open(const std::shared_ptr<net::WebSocketSession>& session);
  void on_message(net::WebSocketSession& session, Bytes message);
  void on_close(net::WebSocketSession& session);

  std::shared_ptr<Connection> find(std::uint64_t session_id) const;
  // Runs `task` after the connection's earlier tasks, on a worker.
  void run_serial(const std::shared_ptr<Connection>& connection, std::function<void()> task);
  // The same, but runs `task` on the calling thread when the connection has
  // nothing queued or running. Only for tasks that never block.
  void run_serial_here(const std::shared_ptr<Connection>& connection, std::function<void()> task);
  void drain(const std::shared_ptr<Connection>& connection);
  // Schedules a push of the device's queue to this connection.
  void wake(const std::shared_ptr<Connection>& connection);
  void wake_device(const std::string& device_id);
  void wake_devices(const std::vector<std::string>& device_ids);
  void pump(Connection& connection);
  // After a send: pushes the message to the recipients' connections on this
  // node (push_one), and has other nodes wake theirs.
  // `delivery_fields`: see encode_delivery_frame.
  void deliver(const std::vector<store::QueuedFor>& queued, const std::shared_ptr<const Bytes>& delivery_fields);
  void push_one(const std::shared_ptr<Connection>& connection, std::int64_t seq, const Bytes& delivery_fields);

  void handle(const std::shared_ptr<Connection>& connection, const relay::v1::ClientFrame& frame);
  void respond(Connection& connection, const relay::v1::Response& response);

  void publish_key_packages(Connection& connection, const relay::v1::ClientFrame& frame);
  void claim_key_packages(Connection& connection, const relay::v1::ClientFrame& frame);
  void create_group(Connection& connection, const relay::v1::ClientFrame& frame);
  void send_message(const std::shared_ptr<Connection>& connection, const relay::v1::ClientFrame& frame);
  void send_commit(const std::shared_ptr<Connection>& connection, const relay::v1::ClientFrame& frame);
  void ack(const std::shared_ptr<Connection>& connection, const relay::v1::ClientFrame& frame);
  void upload_attachment(Connection& connection, const relay::v1::ClientFrame& frame);
  void download_attachment(Connection& connection, const relay::v1::ClientFrame& frame);

  store::RelayStore& store_;
  RelayConfig config_;
  WorkerPool pool_;

  mutable std::mutex registry_mutex_;
  std::unordered_map<std::uint64_t, std::shared_ptr<Connection>> by_session_;
  std::unordered_multimap<std::string, std::shared_ptr<Connection>> by_device_;

  // Asynchronous store operations whose completion has not yet run.
  std::atomic<std::int64_t> store_ops_in_flight_{0};
  std::atomic<std::uint64_t> messages_in_{0};
  std::atomic<std::uint64_t> deliveries_out_{0};
  std::atomic<std::uint64_t> rate_limited_{0};
  std::atomic<std::uint64_t> quota_refusals_{0};
  std::atomic<std::int64_t> pending_requests_{0};
  RateLimiter limiter_;
  LatencyHistogram store_write_latency_;
  std::function<void(const std::vector<std::string>&)> remote_waker_;
};

}  // namespace pmos::server

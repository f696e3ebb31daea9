#include "relay_service.h"

#include <algorithm>
#include <set>
#include <thread>
#include <variant>

#include <google/protobuf/io/coded_stream.h>

#include <cstring>

#include "log.h"
#include "pmos/crypto/random.h"
#include "pmos/mls/mls_message.h"
#include "relay.pb.h"

namespace pmos::server {

namespace pb = ::pmos::relay::v1;

namespace {

// A FIFO that costs nothing while empty: libstdc++'s std::deque allocates
// ~600 bytes as soon as it exists, and a connection has two queues that are
// almost always empty (memory per idle connection, docs/benchmarks.md).
// libs/net keeps the same for its outgoing queue (src/small_fifo.h, private).
template <typename T>
class LazyFifo {
 public:
  bool empty() const { return head_ == items_.size(); }
  std::size_t size() const { return items_.size() - head_; }
  const T& front() const { return items_[head_]; }
  void push_back(T value) { items_.push_back(std::move(value)); }
  // Precondition: !empty().
  T pop_front() {
    T out = std::move(items_[head_++]);
    if (empty()) {
      if (items_.capacity() > 4)
        std::vector<T>().swap(items_);
      else
        items_.clear();
      head_ = 0;
    } else if (head_ >= 32 && head_ * 2 >= items_.size()) {
      // A queue that never runs empty must not grow without bound.
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    return out;
  }

 private:
  std::vector<T> items_;
  std::size_t head_ = 0;
};

}  // namespace

struct RelayService::Connection {
  std::shared_ptr<net::WebSocketSession> session;
  std::string device_id;
  std::string user_id;

  std::mutex mutex;
  LazyFifo<std::function<void()>> tasks;    // guarded by mutex
  bool running = false;                     // a drain is scheduled or running; guarded
  bool pump_pending = false;                // guarded
  bool closed = false;                      // guarded

  // Touched only by this connection's serial tasks.
  std::int64_t sent_seq = 0;           // the last seq pushed
  LazyFifo<std::int64_t> in_flight;    // pushed, not yet acked, ascending
  // The store may hold entries not pushed yet (the window was full, or the
  // last fetch filled it): the next ack must pump. Otherwise an ack needs
  // no store read, since push_one sends new messages as they commit.
  bool backlog = true;
};

namespace {

Bytes to_bytes_of(const std::string& text) { return Bytes(text.begin(), text.end()); }
std::string to_string_of(BytesView bytes) { return std::string(as_string(bytes)); }

Bytes serialize(const pb::ServerFrame& frame) {
  Bytes out(frame.ByteSizeLong());
  frame.SerializeToArray(out.data(), static_cast<int>(out.size()));
  return out;
}

pb::Response response_for(const pb::ClientFrame& frame, pb::Status status, std::string_view error = {}) {
  pb::Response response;
  response.set_request_id(frame.request_id());
  response.set_status(status);
  if (!error.empty()) response.set_error(std::string(error));
  return response;
}

// The routing fields of an MLS handshake or application message: all the
// relay reads of it (ARCHITECTURE.md: the relay sees ciphertext and routing
// metadata only).
struct MlsHeader {
  Bytes group_id;
  std::int64_t epoch = 0;
  mls::ContentType content_type = mls::ContentType::kApplication;
};

ErrorOr<MlsHeader> parse_mls_header(BytesView message) {
  mls::MlsMessage decoded = TRY(tls::decode<mls::MlsMessage>(message));
  MlsHeader header;
  std::uint64_t epoch = 0;
  if (const auto* plain = std::get_if<mls::PublicMessage>(&decoded.message)) {
    header.group_id = plain->content.group_id;
    epoch = plain->content.epoch;
    header.content_type = plain->content.content_type();
  } else if (const auto* sealed = std::get_if<mls::PrivateMessage>(&decoded.message)) {
    header.group_id = sealed->group_id;
    epoch = sealed->epoch;
    header.content_type = sealed->content_type;
  } else {
    return Error::invalid_argument("not an MLS PublicMessage or PrivateMessage");
  }
  if (epoch > static_cast<std::uint64_t>(INT64_MAX)) return Error::invalid_argument("epoch out of range");
  header.epoch = static_cast<std::int64_t>(epoch);
  return header;
}

bool is_mls(BytesView message, mls::WireFormat wire_format) {
  auto decoded = tls::decode<mls::MlsMessage>(message);
  return decoded.has_value() && decoded->wire_format() == wire_format;
}

pb::Delivery::Kind to_proto(store::MessageKind kind) {
  switch (kind) {
    case store::MessageKind::kApplication: return pb::Delivery::APPLICATION;
    case store::MessageKind::kProposal: return pb::Delivery::PROPOSAL;
    case store::MessageKind::kCommit: return pb::Delivery::COMMIT;
    case store::MessageKind::kWelcome: return pb::Delivery::WELCOME;
  }
  return pb::Delivery::KIND_UNSPECIFIED;
}

// Device ids are what the enrollment endpoint hands out; refusing anything
// else early keeps junk out of the store and the logs.
bool plausible_device_id(std::string_view id) { return !id.empty() && id.size() <= 64; }

std::int64_t millis_since_epoch(store::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

Bytes encode_delivery_frame(std::int64_t seq, BytesView delivery_fields) {
  using google::protobuf::io::CodedOutputStream;
  // proto3 leaves a zero out; int64 is the varint of its two's complement.
  const auto seq_bits = static_cast<std::uint64_t>(seq);
  const std::size_t seq_bytes = seq == 0 ? 0 : 1 + CodedOutputStream::VarintSize64(seq_bits);
  const std::size_t inner = seq_bytes + delivery_fields.size();
  Bytes out(1 + CodedOutputStream::VarintSize64(inner) + inner);
  std::uint8_t* at = out.data();
  *at++ = 0x12;  // ServerFrame.delivery: field 2, length-delimited
  at = CodedOutputStream::WriteVarint64ToArray(inner, at);
  if (seq != 0) {
    *at++ = 0x08;  // Delivery.seq: field 1, varint; first, as protobuf orders fields
    at = CodedOutputStream::WriteVarint64ToArray(seq_bits, at);
  }
  if (!delivery_fields.empty()) std::memcpy(at, delivery_fields.data(), delivery_fields.size());
  return out;
}

RelayService::RelayService(store::RelayStore& store, RelayConfig config)
    : store_(store), config_(config), pool_(config.workers), limiter_(config.rate_limit, config.rate_burst) {}

RelayService::~RelayService() { shutdown(); }

void RelayService::shutdown() {
  // Completions of group-commit writes post to the pool; they must all have
  // run before the pool stops, or their connections never hear the answer
  // and the store could call into a destroyed service.
  while (store_ops_in_flight_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  pool_.stop();
  std::lock_guard lock(registry_mutex_);
  by_session_.clear();
  by_device_.clear();
}

net::WebSocketHandlers RelayService::handlers() {
  net::WebSocketHandlers handlers;
  handlers.on_open = [this](const std::shared_ptr<net::WebSocketSession>& session) { on_open(session); };
  handlers.on_message = [this](net::WebSocketSession& session, Bytes message) {
    on_message(session, std::move(message));
  };
  handlers.on_close = [this](net::WebSocketSession& session, const net::CloseInfo&) { on_close(session); };
  return handlers;
}

std::size_t RelayService::connection_count() const {
  std::lock_guard lock(registry_mutex_);
  return by_session_.size();
}

// ---- connections

void RelayService::on_open(const std::shared_ptr<net::WebSocketSession>& session) {
  // libs/net verified the certificate against the org CA and asked the
  // revocation set (accept_peer). The CA signs CN = device id and OU = user
  // id only at enrollment, so the names are as trustworthy as the CA key.
  const auto& peer = session->peer();
  if (!peer || !plausible_device_id(peer->common_name) || peer->organizational_units.empty()) {
    session->close(net::CloseCode::kPolicyViolation, "a device certificate is required");
    return;
  }
  auto connection = std::make_shared<Connection>();
  connection->session = session;
  connection->device_id = peer->common_name;
  connection->user_id = peer->organizational_units.front();
  {
    std::lock_guard lock(registry_mutex_);
    by_session_[session->id()] = connection;
    by_device_.emplace(connection->device_id, connection);
  }
  log("info", "device connected", {{"device", connection->device_id}, {"session", session->id()}});
  // Whatever waited while the device was away goes out first.
  wake(connection);
}

void RelayService::on_close(net::WebSocketSession& session) {
  std::shared_ptr<Connection> connection;
  {
    std::lock_guard lock(registry_mutex_);
    auto it = by_session_.find(session.id());
    if (it == by_session_.end()) return;
    connection = it->second;
    by_session_.erase(it);
    auto [begin, end] = by_device_.equal_range(connection->device_id);
    for (auto entry = begin; entry != end; ++entry) {
      if (entry->second == connection) {
        by_device_.erase(entry);
        break;
      }
    }
  }
  // Tasks already queued still run: an ack that arrived just before the
  // close must reach the store. Nothing new is queued, and pump stops.
  std::lock_guard lock(connection->mutex);
  connection->closed = true;
}

std::shared_ptr<RelayService::Connection> RelayService::find(std::uint64_t session_id) const {
  std::lock_guard lock(registry_mutex_);
  auto it = by_session_.find(session_id);
  return it == by_session_.end() ? nullptr : it->second;
}

void RelayService::on_message(net::WebSocketSession& session, Bytes message) {
  std::shared_ptr<Connection> connection = find(session.id());
  if (!connection) return;
  auto frame = std::make_shared<pb::ClientFrame>();
  // A frame that is not a ClientFrame means a broken or hostile client:
  // close this connection (only this one) rather than guess.
  if (!frame->ParseFromArray(message.data(), static_cast<int>(message.size())) ||
      frame->op_case() == pb::ClientFrame::OP_NOT_SET) {
    log("warning", "malformed frame; closing", {{"device", connection->device_id}, {"bytes", message.size()}});
    session.close(net::CloseCode::kProtocolError, "malformed frame");
    return;
  }
  messages_in_.fetch_add(1);
  // Limits are checked here, before anything is queued: a device flooding
  // frames costs a parse and an answer each, never memory or a worker.
  // Acks are exempt: they only shrink the device's own queue.
  if (frame->op_case() != pb::ClientFrame::kAck) {
    std::chrono::milliseconds wait = limiter_.acquire(connection->device_id);
    bool overloaded = false;
    if (wait.count() == 0) {
      std::lock_guard lock(connection->mutex);
      overloaded = connection->tasks.size() >= config_.max_pending_requests;
      if (overloaded) wait = std::chrono::milliseconds(100);
    }
    if (wait.count() > 0) {
      rate_limited_.fetch_add(1);
      pb::Response response = response_for(*frame, pb::RATE_LIMITED,
                                           overloaded ? "too many requests in flight" : "request rate over the limit");
      response.set_retry_after_ms(static_cast<std::uint32_t>(std::min<std::int64_t>(wait.count(), 60'000)));
      respond(*connection, response);
      return;
    }
  }
  pending_requests_.fetch_add(1);
  auto task = [this, connection, frame] {
    pending_requests_.fetch_sub(1);
    handle(connection, *frame);
  };
  // Sends and acks never block (the store's part is asynchronous): when the
  // connection has nothing queued they run here, on its I/O thread, saving
  // two thread hand-offs per frame. The rest may wait on the store.
  if (frame->op_case() == pb::ClientFrame::kSendMessage || frame->op_case() == pb::ClientFrame::kAck)
    run_serial_here(connection, std::move(task));
  else
    run_serial(connection, std::move(task));
}

void RelayService::run_serial(const std::shared_ptr<Connection>& connection, std::function<void()> task) {
  {
    std::lock_guard lock(connection->mutex);
    if (connection->closed) return;  // on_close has run: no frame can follow
    connection->tasks.push_back(std::move(task));
    if (connection->running) return;
    connection->running = true;
  }
  pool_.post([this, connection] { drain(connection); });
}

void RelayService::run_serial_here(const std::shared_ptr<Connection>& connection, std::function<void()> task) {
  {
    std::lock_guard lock(connection->mutex);
    if (connection->closed) return;
    if (connection->running) {
      connection->tasks.push_back(std::move(task));
      return;
    }
    connection->running = true;
  }
  task();
  {
    std::lock_guard lock(connection->mutex);
    // What the task (or another thread meanwhile) queued goes to a worker.
    if (connection->tasks.empty()) {
      connection->running = false;
      return;
    }
  }
  pool_.post([this, connection] { drain(connection); });
}

void RelayService::drain(const std::shared_ptr<Connection>& connection) {
  // A bounded number per turn, so one busy device cannot hold a worker
  // while others wait.
  for (int done = 0; done < 32; ++done) {
    std::function<void()> task;
    {
      std::lock_guard lock(connection->mutex);
      if (connection->tasks.empty()) {
        connection->running = false;
        return;
      }
      task = connection->tasks.pop_front();
    }
    task();
  }
  pool_.post([this, connection] { drain(connection); });
}

// ---- delivery

void RelayService::wake(const std::shared_ptr<Connection>& connection) {
  {
    std::lock_guard lock(connection->mutex);
    if (connection->pump_pending || connection->closed) return;
    connection->pump_pending = true;
  }
  run_serial(connection, [this, connection] { pump(*connection); });
}

void RelayService::wake_device(const std::string& device_id) {
  std::vector<std::shared_ptr<Connection>> connections;
  {
    std::lock_guard lock(registry_mutex_);
    auto [begin, end] = by_device_.equal_range(device_id);
    for (auto it = begin; it != end; ++it) connections.push_back(it->second);
  }
  for (const auto& connection : connections) wake(connection);
}

void RelayService::wake_devices(const std::vector<std::string>& device_ids) {
  for (const std::string& device_id : device_ids) wake_device(device_id);
  if (remote_waker_ && !device_ids.empty()) remote_waker_(device_ids);
}

void RelayService::deliver(const std::vector<store::QueuedFor>& queued,
                           const std::shared_ptr<const Bytes>& delivery_fields) {
  // Few recipients (1:1 and small groups) are pushed right here on the
  // store's writer thread, saving a hop through the workers. A large fan-out
  // goes to the workers: on the writer thread it would hold up the next
  // group commit (measured: groups of 100 lost a third of their rate).
  constexpr std::size_t kPushHereRecipients = 4;
  const bool here = queued.size() <= kPushHereRecipients;
  std::vector<std::string> devices;
  devices.reserve(queued.size());
  for (const store::QueuedFor& entry : queued) {
    std::vector<std::shared_ptr<Connection>> connections;
    {
      std::lock_guard lock(registry_mutex_);
      auto [begin, end] = by_device_.equal_range(entry.device_id);
      for (auto it = begin; it != end; ++it) connections.push_back(it->second);
    }
    for (const auto& connection : connections) {
      auto push = [this, connection, seq = entry.seq, delivery_fields] {
        push_one(connection, seq, *delivery_fields);
      };
      if (here)
        run_serial_here(connection, std::move(push));
      else
        run_serial(connection, std::move(push));
    }
    devices.push_back(entry.device_id);
  }
  if (remote_waker_ && !devices.empty()) remote_waker_(devices);
}

void RelayService::push_one(const std::shared_ptr<Connection>& connection, std::int64_t seq,
                            const Bytes& delivery_fields) {
  {
    std::lock_guard lock(connection->mutex);
    if (connection->closed) return;
  }
  if (connection->sent_seq >= seq) return;  // a pump got there first
  // A gap (an earlier entry not pushed yet, its completion still on its way
  // or the device behind) or a full window: the queue in the store decides.
  if (connection->sent_seq + 1 != seq || connection->in_flight.size() >= config_.delivery_window) {
    connection->backlog = true;
    wake(connection);
    return;
  }
  if (!connection->session->send(encode_delivery_frame(seq, delivery_fields))) return;
  connection->sent_seq = seq;
  connection->in_flight.push_back(seq);
  deliveries_out_.fetch_add(1);
}

void RelayService::wake_all_local() {
  std::vector<std::shared_ptr<Connection>> connections;
  {
    std::lock_guard lock(registry_mutex_);
    for (const auto& [id, connection] : by_session_) connections.push_back(connection);
  }
  for (const auto& connection : connections) wake(connection);
}

void RelayService::pump(Connection& connection) {
  {
    // Cleared before the fetch: a wake-up that arrives during it schedules
    // another pump, so no queue entry is left waiting for the next event.
    std::lock_guard lock(connection.mutex);
    connection.pump_pending = false;
    if (connection.closed) return;
  }
  if (connection.in_flight.size() >= config_.delivery_window) {
    connection.backlog = true;  // the next ack wakes us
    return;
  }
  std::size_t room = config_.delivery_window - connection.in_flight.size();
  auto fetched = store_.fetch(connection.device_id, connection.sent_seq, room);
  if (!fetched) {
    connection.backlog = true;
    log("error", "fetch failed", {{"device", connection.device_id}, {"error", fetched.error().to_string()},
                                  {"detail", store::last_error_detail()}});
    return;
  }
  connection.backlog = fetched->size() >= room;
  for (store::QueuedMessage& message : *fetched) {
    pb::ServerFrame frame;
    pb::Delivery* delivery = frame.mutable_delivery();
    delivery->set_seq(message.seq);
    delivery->set_kind(to_proto(message.kind));
    delivery->set_group_id(to_string_of(message.group_id));
    delivery->set_sender_device(message.sender_device);
    delivery->set_epoch(message.epoch);
    delivery->set_message(to_string_of(message.body));
    delivery->set_created_at_ms(millis_since_epoch(message.created_at));
    if (!connection.session->send(serialize(frame))) return;  // closing; the device re-fetches on reconnect
    connection.sent_seq = message.seq;
    connection.in_flight.push_back(message.seq);
    deliveries_out_.fetch_add(1);
  }
}

// ---- requests

void RelayService::respond(Connection& connection, const pb::Response& response) {
  pb::ServerFrame frame;
  *frame.mutable_response() = response;
  connection.session->send(serialize(frame));
}

void RelayService::handle(const std::shared_ptr<Connection>& connection, const pb::ClientFrame& frame) {
  switch (frame.op_case()) {
    case pb::ClientFrame::kPublishKeyPackages: publish_key_packages(*connection, frame); return;
    case pb::ClientFrame::kClaimKeyPackages: claim_key_packages(*connection, frame); return;
    case pb::ClientFrame::kCreateGroup: create_group(*connection, frame); return;
    case pb::ClientFrame::kSendCommit: send_commit(connection, frame); return;
    case pb::ClientFrame::kSendMessage: send_message(connection, frame); return;
    case pb::ClientFrame::kAck: ack(connection, frame); return;
    case pb::ClientFrame::kUploadAttachment: upload_attachment(*connection, frame); return;
    case pb::ClientFrame::kDownloadAttachment: download_attachment(*connection, frame); return;
    case pb::ClientFrame::OP_NOT_SET: break;
  }
  respond(*connection, response_for(frame, pb::INVALID, "no operation"));
}

void RelayService::publish_key_packages(Connection& connection, const pb::ClientFrame& frame) {
  const pb::PublishKeyPackages& request = frame.publish_key_packages();
  if (static_cast<std::size_t>(request.key_packages_size()) > config_.max_key_packages_per_publish)
    return respond(connection, response_for(frame, pb::TOO_LARGE, "too many key packages in one publish"));
  if (config_.max_key_packages > 0 && request.key_packages_size() > 0) {
    auto stored = store_.key_package_count(connection.device_id);
    if (!stored) return respond(connection, response_for(frame, pb::INTERNAL, "store error"));
    if (*stored + request.key_packages_size() > config_.max_key_packages) {
      quota_refusals_.fetch_add(1);
      return respond(connection, response_for(frame, pb::QUOTA_EXCEEDED,
                                              "over the quota of unclaimed key packages per device (" +
                                                  std::to_string(config_.max_key_packages) + ")"));
    }
  }
  std::vector<Bytes> packages;
  for (const std::string& package : request.key_packages()) {
    if (package.size() > config_.max_key_package_bytes)
      return respond(connection, response_for(frame, pb::TOO_LARGE, "key package too large"));
    // Parsed, not verified: claimers validate signatures and credentials
    // (RFC 9420 §10.1); the relay only keeps junk out of its queues.
    if (!is_mls(as_bytes(package), mls::WireFormat::kKeyPackage))
      return respond(connection, response_for(frame, pb::INVALID, "not an MLSMessage holding a KeyPackage"));
    packages.push_back(to_bytes_of(package));
  }
  std::optional<BytesView> last_resort;
  if (!request.last_resort().empty()) {
    if (!is_mls(as_bytes(request.last_resort()), mls::WireFormat::kKeyPackage))
      return respond(connection, response_for(frame, pb::INVALID, "last_resort is not an MLS KeyPackage"));
    last_resort = as_bytes(request.last_resort());
  }
  auto published = store_.publish_key_packages(connection.device_id, packages, last_resort);
  if (!published) return respond(connection, response_for(frame, pb::INTERNAL, "store error"));
  auto stored = store_.key_package_count(connection.device_id);
  if (!stored) return respond(connection, response_for(frame, pb::INTERNAL, "store error"));
  pb::Response response = response_for(frame, pb::OK);
  response.set_key_packages_stored(*stored);
  respond(connection, response);
}

void RelayService::claim_key_packages(Connection& connection, const pb::ClientFrame& frame) {
  const pb::ClaimKeyPackages& request = frame.claim_key_packages();
  std::vector<std::string> targets;
  if (!request.user_id().empty()) {
    auto devices = store_.devices_of_user(request.user_id());
    if (!devices) return respond(connection, response_for(frame, pb::INTERNAL, "store error"));
    for (const store::Device& device : *devices)
      if (!device.revoked) targets.push_back(device.id);
  }
  for (const std::string& device_id : request.device_ids()) {
    if (!plausible_device_id(device_id)) return respond(connection, response_for(frame, pb::INVALID, "bad device id"));
    targets.push_back(device_id);
  }
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  std::erase(targets, connection.device_id);
  if (targets.size() > config_.max_group_members)
    return respond(connection, response_for(frame, pb::TOO_LARGE, "too many devices"));

  pb::Response response = response_for(frame, pb::OK);
  for (const std::string& device_id : targets) {
    auto claimed = store_.claim_key_package(device_id);
    if (!claimed) return respond(connection, response_for(frame, pb::INTERNAL, "store error"));
    if (!claimed->has_value()) continue;
    pb::ClaimedKeyPackage* out = response.add_key_packages();
    out->set_device_id(device_id);
    out->set_key_package(to_string_of((*claimed)->key_package));
    out->set_last_resort((*claimed)->last_resort);
  }
  if (response.key_packages_size() == 0) {
    response.set_status(pb::NOT_FOUND);
    response.set_error("no key package available for those devices");
  }
  respond(connection, response);
}

void RelayService::create_group(Connection& connection, const pb::ClientFrame& frame) {
  const pb::CreateGroup& request = frame.create_group();
  if (request.group_id().empty() || request.group_id().size() > config_.max_group_id_bytes)
    return respond(connection, response_for(frame, pb::INVALID, "group id must be 1-255 bytes"));
  if (static_cast<std::size_t>(request.member_devices_size()) >= config_.max_group_members)
    return respond(connection, response_for(frame, pb::TOO_LARGE, "too many members"));
  std::vector<std::string> members(request.member_devices().begin(), request.member_devices().end());
  members.push_back(connection.device_id);
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  for (const std::string& member : members) {
    if (!plausible_device_id(member)) return respond(connection, response_for(frame, pb::INVALID, "bad device id"));
    auto device = store_.device(member);
    if (!device) return respond(connection, response_for(frame, pb::INTERNAL, "store error"));
    if (!device->has_value() || (*device)->revoked)
      return respond(connection, response_for(frame, pb::NOT_FOUND, "unknown or revoked member device"));
  }
  auto created = store_.create_group(as_bytes(request.group_id()), members);
  if (!created) return respond(connection, response_for(frame, pb::INTERNAL, "store error"));
  if (!*created) return respond(connection, response_for(frame, pb::ALREADY_EXISTS, "group id taken"));
  pb::Response response = response_for(frame, pb::OK);
  response.set_epoch(0);
  respond(connection, response);
}

void RelayService::send_message(const std::shared_ptr<Connection>& connection, const pb::ClientFrame& frame) {
  const pb::SendMessage& request = frame.send_message();
  if (request.client_message_id().empty() || request.client_message_id().size() > config_.max_client_message_id_bytes)
    return respond(*connection, response_for(frame, pb::INVALID, "client_message_id must be 1-64 bytes"));
  auto header = parse_mls_header(as_bytes(request.message()));
  if (!header) return respond(*connection, response_for(frame, pb::INVALID, header.error().message()));
  store::OutgoingMessage message;
  switch (header->content_type) {
    case mls::ContentType::kApplication: message.kind = store::MessageKind::kApplication; break;
    case mls::ContentType::kProposal: message.kind = store::MessageKind::kProposal; break;
    default:
      return respond(*connection, response_for(frame, pb::INVALID, "commits go in SendCommit"));
  }
  message.group_id = header->group_id;
  message.sender_device = connection->device_id;
  message.message_id = to_bytes_of(request.client_message_id());
  message.epoch = header->epoch;
  message.body = to_bytes_of(request.message());

  // What recipients will get, built once: connected ones are pushed this
  // without reading the message back from the store.
  auto delivery = std::make_shared<pb::Delivery>();
  pb::Delivery* entry = delivery.get();
  entry->set_kind(to_proto(message.kind));
  entry->set_group_id(to_string_of(message.group_id));
  entry->set_sender_device(message.sender_device);
  entry->set_epoch(message.epoch);
  entry->set_message(request.message());

  std::uint64_t request_id = frame.request_id();
  store_ops_in_flight_.fetch_add(1);
  auto started = std::chrono::steady_clock::now();
  store_.send_message_async(std::move(message), [this, connection, request_id, delivery, started](
                                                    ErrorOr<store::SendResult> result) {
    store_write_latency_.observe(std::chrono::steady_clock::now() - started);
    // On the store's writer thread, and done here: an answer and a push per
    // connected recipient are each a queue append (session->send and
    // run_serial), cheaper than another hop through the worker pool, which
    // on two cores costs more in context switches than the work itself.
    pb::Response response;
    response.set_request_id(request_id);
    if (!result) {
      response.set_status(pb::INTERNAL);
      response.set_error("store error; resend with the same client_message_id");
    } else {
      response.set_recipients(result->recipients);
      switch (result->status) {
        case store::SendStatus::kQueued: response.set_status(pb::OK); break;
        case store::SendStatus::kDuplicate: response.set_status(pb::DUPLICATE); break;
        case store::SendStatus::kNoSuchGroup: response.set_status(pb::NO_SUCH_GROUP); break;
        case store::SendStatus::kNotMember: response.set_status(pb::NOT_MEMBER); break;
      }
    }
    respond(*connection, response);
    if (result && result->status == store::SendStatus::kQueued && !result->queued.empty()) {
      delivery->set_created_at_ms(millis_since_epoch(result->created_at));
      // Serialized once, without the seq: each recipient's frame is its seq
      // plus these bytes (encode_delivery_frame).
      auto fields = std::make_shared<Bytes>(delivery->ByteSizeLong());
      delivery->SerializeToArray(fields->data(), static_cast<int>(fields->size()));
      deliver(result->queued, fields);
    }
    store_ops_in_flight_.fetch_sub(1);
  });
}

void RelayService::send_commit(const std::shared_ptr<Connection>& connection, const pb::ClientFrame& frame) {
  const pb::SendCommit& request = frame.send_commit();
  if (request.client_message_id().empty() || request.client_message_id().size() > config_.max_client_message_id_bytes)
    return respond(*connection, response_for(frame, pb::INVALID, "client_message_id must be 1-64 bytes"));
  auto header = parse_mls_header(as_bytes(request.commit()));
  if (!header) return respond(*connection, response_for(frame, pb::INVALID, header.error().message()));
  if (header->content_type != mls::ContentType::kCommit)
    return respond(*connection, response_for(frame, pb::INVALID, "SendCommit carries a commit"));

  store::CommitRequest commit;
  commit.group_id = header->group_id;
  commit.sender_device = connection->device_id;
  commit.message_id = to_bytes_of(request.client_message_id());
  commit.epoch = header->epoch;
  commit.commit = to_bytes_of(request.commit());
  std::vector<std::string> to_wake;
  for (const std::string& device : request.add_devices()) {
    if (!plausible_device_id(device)) return respond(*connection, response_for(frame, pb::INVALID, "bad device id"));
    commit.add_devices.push_back(device);
  }
  for (const std::string& device : request.remove_devices()) {
    if (!plausible_device_id(device)) return respond(*connection, response_for(frame, pb::INVALID, "bad device id"));
    commit.remove_devices.push_back(device);
    to_wake.push_back(device);
  }
  for (const pb::WelcomeFor& welcome : request.welcomes()) {
    if (welcome.recipient_devices_size() == 0 || !is_mls(as_bytes(welcome.welcome()), mls::WireFormat::kWelcome))
      return respond(*connection, response_for(frame, pb::INVALID, "a welcome needs recipients and an MLS Welcome"));
    store::Welcome out;
    for (const std::string& device : welcome.recipient_devices()) {
      if (!plausible_device_id(device)) return respond(*connection, response_for(frame, pb::INVALID, "bad device id"));
      out.recipients.push_back(device);
      to_wake.push_back(device);
    }
    out.body = to_bytes_of(welcome.welcome());
    commit.welcomes.push_back(std::move(out));
  }

  std::uint64_t request_id = frame.request_id();
  Bytes group_id = header->group_id;
  store_ops_in_flight_.fetch_add(1);
  auto started = std::chrono::steady_clock::now();
  store_.submit_commit_async(std::move(commit), [this, connection, request_id, group_id, to_wake, started](
                                                    ErrorOr<store::CommitResult> result) {
    store_write_latency_.observe(std::chrono::steady_clock::now() - started);
    pool_.post([this, connection, request_id, group_id, to_wake, result = std::move(result)] {
      pb::Response response;
      response.set_request_id(request_id);
      if (!result) {
        response.set_status(pb::INTERNAL);
        response.set_error("store error; resend with the same client_message_id");
      } else {
        response.set_epoch(result->epoch);
        switch (result->status) {
          case store::CommitStatus::kAccepted: response.set_status(pb::OK); break;
          case store::CommitStatus::kDuplicate: response.set_status(pb::DUPLICATE); break;
          case store::CommitStatus::kEpochConflict:
            response.set_status(pb::EPOCH_CONFLICT);
            response.set_error("another commit won this epoch");
            break;
          case store::CommitStatus::kNoSuchGroup: response.set_status(pb::NO_SUCH_GROUP); break;
          case store::CommitStatus::kNotMember: response.set_status(pb::NOT_MEMBER); break;
        }
      }
      respond(*connection, response);
      if (result && result->status == store::CommitStatus::kAccepted) {
        auto group = store_.group(group_id);
        if (group && group->has_value()) wake_devices((*group)->members);
        wake_devices(to_wake);
      }
      store_ops_in_flight_.fetch_sub(1);
    });
  });
}

void RelayService::ack(const std::shared_ptr<Connection>& connection, const pb::ClientFrame& frame) {
  // Never past what was pushed: a client acking ahead would delete messages
  // it has not seen.
  std::int64_t up_to = std::min(frame.ack().up_to_seq(), connection->sent_seq);
  if (up_to <= 0) return;
  while (!connection->in_flight.empty() && connection->in_flight.front() <= up_to) (void)connection->in_flight.pop_front();
  store_ops_in_flight_.fetch_add(1);
  store_.ack_async(connection->device_id, up_to, [this, connection](ErrorOr<std::int64_t> result) {
    if (!result)
      log("error", "ack failed", {{"device", connection->device_id}, {"error", result.error().to_string()}});
    store_ops_in_flight_.fetch_sub(1);
  });
  // The window opened: push what waits (acked entries are at or below
  // sent_seq, so the fetch never returns them even before the delete commits).
  if (connection->backlog) wake(connection);
}

void RelayService::upload_attachment(Connection& connection, const pb::ClientFrame& frame) {
  const pb::UploadAttachment& request = frame.upload_attachment();
  if (request.data().empty()) return respond(connection, response_for(frame, pb::INVALID, "empty attachment"));
  if (request.data().size() > config_.max_attachment_bytes)
    return respond(connection, response_for(frame, pb::TOO_LARGE, "attachment over the size limit"));
  std::chrono::seconds ttl = config_.attachment_ttl;
  if (request.ttl_seconds() > 0) ttl = std::min(ttl, std::chrono::seconds(request.ttl_seconds()));
  // The id is a capability: 128 random bits, handed by the uploader to the
  // group inside an encrypted message. Whoever has it may download.
  Bytes id = crypto::random_bytes(16);
  auto stored = store_.put_attachment(id, connection.device_id, as_bytes(request.data()),
                                      std::chrono::system_clock::now() + ttl, config_.attachment_quota_bytes);
  if (!stored) return respond(connection, response_for(frame, pb::INTERNAL, "store error"));
  if (*stored == store::RelayStore::AttachmentPut::kOverQuota) {
    quota_refusals_.fetch_add(1);
    return respond(connection, response_for(frame, pb::QUOTA_EXCEEDED, "over the device's attachment storage quota"));
  }
  if (*stored == store::RelayStore::AttachmentPut::kIdTaken)
    return respond(connection, response_for(frame, pb::INTERNAL, "attachment id collision; retry"));
  pb::Response response = response_for(frame, pb::OK);
  response.set_attachment_id(to_string_of(id));
  respond(connection, response);
}

void RelayService::download_attachment(Connection& connection, const pb::ClientFrame& frame) {
  const std::string& id = frame.download_attachment().attachment_id();
  if (id.empty() || id.size() > 64) return respond(connection, response_for(frame, pb::INVALID, "bad attachment id"));
  auto data = store_.attachment(as_bytes(id));
  if (!data) return respond(connection, response_for(frame, pb::INTERNAL, "store error"));
  if (!data->has_value()) return respond(connection, response_for(frame, pb::NOT_FOUND, "no such attachment"));
  pb::Response response = response_for(frame, pb::OK);
  response.set_attachment(to_string_of(**data));
  respond(connection, response);
}

}  // namespace pmos::server

#include "nats_bridge.h"

#include <nats/nats.h>

#include <mutex>
#include <string_view>

#include "log.h"
#include "relay_service.h"

namespace pmos::server {

namespace {
constexpr const char* kSubject = "pmos.relay.wake";
thread_local std::string t_last_error;
}  // namespace

// What the NATS client's threads see. The client may run a callback after
// natsConnection_Close and natsConnection_Destroy returned (disconnected and
// closed callbacks are asynchronous), so this state lives until
// nats_CloseAndWait has stopped the client's threads. `relay` is cleared,
// under the mutex, first: a callback still running stops using it.
struct CallbackState {
  std::mutex mutex;
  RelayService* relay = nullptr;  // guarded by mutex; null once stopping
  std::string node_id;
};

struct NatsBridge::Impl {
  CallbackState* state = new CallbackState;  // deleted after nats_CloseAndWait
  natsOptions* options = nullptr;
  natsConnection* connection = nullptr;
  natsSubscription* subscription = nullptr;

  ~Impl() {
    {
      std::lock_guard lock(state->mutex);
      state->relay = nullptr;
    }
    if (subscription) natsSubscription_Unsubscribe(subscription);
    if (connection) natsConnection_Close(connection);
    if (subscription) natsSubscription_Destroy(subscription);
    if (connection) natsConnection_Destroy(connection);
    if (options) natsOptions_Destroy(options);
    // Stops the NATS library's threads, so no callback can follow: a
    // process has one bridge, and NATS is not used after it.
    if (nats_CloseAndWait(5000) == NATS_OK) {
      delete state;
    }  // else a library thread is stuck: keep the state rather than free it under it
  }

  // payload: "<node id>\n<device>\n<device>..."
  static void on_message(natsConnection*, natsSubscription*, natsMsg* message, void* closure) {
    auto* state = static_cast<CallbackState*>(closure);
    std::string_view data(natsMsg_GetData(message), static_cast<std::size_t>(natsMsg_GetDataLength(message)));
    std::size_t newline = data.find('\n');
    std::lock_guard lock(state->mutex);
    if (state->relay != nullptr && newline != std::string_view::npos && data.substr(0, newline) != state->node_id) {
      data.remove_prefix(newline + 1);
      while (!data.empty()) {
        std::size_t end = data.find('\n');
        std::string_view device = data.substr(0, end);
        if (!device.empty() && device.size() <= 64) state->relay->wake_local_device(std::string(device));
        if (end == std::string_view::npos) break;
        data.remove_prefix(end + 1);
      }
    }
    natsMsg_Destroy(message);
  }

  static void on_reconnected(natsConnection*, void* closure) {
    auto* state = static_cast<CallbackState*>(closure);
    std::lock_guard lock(state->mutex);
    if (state->relay == nullptr) return;
    log("info", "nats reconnected; waking every local connection", {{"node", state->node_id}});
    state->relay->wake_all_local();
  }

  static void on_disconnected(natsConnection*, void* closure) {
    auto* state = static_cast<CallbackState*>(closure);
    std::lock_guard lock(state->mutex);
    if (state->relay == nullptr) return;  // our own close
    log("warning", "nats link lost; deliveries stored by other nodes wait for the reconnect",
        {{"node", state->node_id}});
  }
};

NatsBridge::NatsBridge(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NatsBridge::~NatsBridge() = default;

std::string NatsBridge::last_error_detail() { return t_last_error; }

ErrorOr<std::unique_ptr<NatsBridge>> NatsBridge::start(const std::string& url, std::string node_id,
                                                       RelayService& relay) {
  auto impl = std::make_unique<Impl>();
  impl->state->node_id = std::move(node_id);
  impl->state->relay = &relay;
  auto failed = [](natsStatus status) -> Error {
    t_last_error = std::string(natsStatus_GetText(status)) + ": " + nats_GetLastError(nullptr);
    return Error::system("nats", ECONNREFUSED);
  };
  natsStatus status = natsOptions_Create(&impl->options);
  if (status == NATS_OK) status = natsOptions_SetURL(impl->options, url.c_str());
  if (status == NATS_OK) status = natsOptions_SetName(impl->options, ("pmos-relay " + impl->state->node_id).c_str());
  if (status == NATS_OK) status = natsOptions_SetMaxReconnect(impl->options, -1);
  if (status == NATS_OK) status = natsOptions_SetReconnectWait(impl->options, 250);
  if (status == NATS_OK) status = natsOptions_SetReconnectedCB(impl->options, &Impl::on_reconnected, impl->state);
  if (status == NATS_OK) status = natsOptions_SetDisconnectedCB(impl->options, &Impl::on_disconnected, impl->state);
  if (status != NATS_OK) return failed(status);
  status = natsConnection_Connect(&impl->connection, impl->options);
  if (status != NATS_OK) return failed(status);
  status = natsConnection_Subscribe(&impl->subscription, impl->connection, kSubject, &Impl::on_message, impl->state);
  if (status == NATS_OK) status = natsConnection_Flush(impl->connection);
  if (status != NATS_OK) return failed(status);
  return std::unique_ptr<NatsBridge>(new NatsBridge(std::move(impl)));
}

void NatsBridge::publish(const std::vector<std::string>& device_ids) {
  std::string payload = impl_->state->node_id;
  for (const std::string& device : device_ids) payload += "\n" + device;
  // Buffered by the client's flusher thread; an error here (link down)
  // is covered by the wake-all after the reconnect.
  natsConnection_Publish(impl_->connection, kSubject, payload.data(), static_cast<int>(payload.size()));
}

}  // namespace pmos::server

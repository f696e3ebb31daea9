#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pmos/base/error_or.h"

namespace pmos::server {

class RelayService;

// Wake-ups between relay nodes that share one PostgreSQL database
// (docs/server.md, "Several relay nodes"). A node that writes to device
// queues publishes the device ids on the NATS subject `pmos.relay.wake`;
// every node subscribes and wakes the connections it holds for those
// devices, which then read their queue from the shared store.
//
// NATS core delivery is at most once: the store stays the truth and a lost
// wake-up only delays a delivery. After the NATS link comes back, every
// local connection is woken, since wake-ups may have been lost meanwhile.
class NatsBridge {
 public:
  // Connects to `url` (nats://127.0.0.1:4222) and subscribes; reconnects
  // for ever in the background. The relay must outlive the bridge. One
  // bridge per process: destroying it shuts the NATS library down.
  static ErrorOr<std::unique_ptr<NatsBridge>> start(const std::string& url, std::string node_id, RelayService& relay);
  ~NatsBridge();
  NatsBridge(const NatsBridge&) = delete;
  NatsBridge& operator=(const NatsBridge&) = delete;

  // Publishes a wake-up for these devices (buffered; never blocks on the
  // network).
  void publish(const std::vector<std::string>& device_ids);

  // Why start() failed (the NATS client's text).
  static std::string last_error_detail();

  struct Impl;

 private:
  explicit NatsBridge(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pmos::server

#pragma once

// A client of a tlog-tiles log over HTTPS: fetches the checkpoint, tiles and
// entry bundles, and computes proofs from the tiles. Nothing it downloads is
// trusted on its own: checkpoints are opened with the log's key, and a tile
// with a wrong hash yields a proof that fails against the signed root.
// Used by the pmos-log tool and by tests.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/net/client.h"
#include "pmos/net/tls.h"
#include "pmos/tlog/checkpoint.h"
#include "pmos/tlog/note_keys.h"
#include "pmos/tlog/tile.h"

namespace pmos::tlogd {

// "https://host:port[/prefix]" split; the prefix has no trailing '/'.
struct LogUrl {
  std::string host;
  std::uint16_t port = 443;
  std::string prefix;
};
ErrorOr<LogUrl> parse_log_url(std::string_view url);

// One kept-alive HTTPS connection to a log. Not thread-safe (one HttpsClient).
class LogClient final : public tlog::TileReader {
 public:
  static ErrorOr<std::unique_ptr<LogClient>> connect(const net::TlsClientConfig& tls, const LogUrl& url,
                                                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // The signed note at /checkpoint, unverified.
  ErrorOr<std::string> fetch_checkpoint_note();
  // The checkpoint, opened with the log's key (origin = the key's name).
  ErrorOr<tlog::OpenedCheckpoint> fetch_checkpoint(const tlog::Ed25519NoteVerifier& log_key);

  // TileReader: a partial tile that is gone (404) is retried as the full
  // tile, as tlog-tiles allows clients to do.
  ErrorOr<std::vector<Bytes>> read_tiles(std::span<const tlog::TileId> tiles) const override;
  // The entries of a bundle, decoded (same fallback to the full bundle).
  ErrorOr<std::vector<Bytes>> fetch_entry_bundle(const tlog::TileId& bundle);
  // Entry `index` of the tree of `tree_size` entries.
  ErrorOr<Bytes> fetch_entry(std::uint64_t index, std::uint64_t tree_size);

  // Proofs for a tree of `tree_size` entries computed from its tiles.
  ErrorOr<std::vector<tlog::Hash>> inclusion_proof(std::uint64_t index, std::uint64_t tree_size);
  ErrorOr<std::vector<tlog::Hash>> consistency_proof(std::uint64_t old_size, std::uint64_t new_size);

  // POST /add with the bearer token; the index once the entry is durable.
  ErrorOr<std::uint64_t> add(BytesView entry, std::string_view token);

  // Bytes downloaded so far (for progress output).
  std::uint64_t bytes_received() const { return bytes_received_; }

 private:
  LogClient(std::unique_ptr<net::HttpsClient> http, std::string prefix)
      : http_(std::move(http)), prefix_(std::move(prefix)) {}
  // GET prefix/path: the body on 200, kNotFound on 404, an error otherwise.
  ErrorOr<std::string> get(const std::string& path) const;

  // read_tiles is const per TileReader but a request uses the connection.
  mutable std::unique_ptr<net::HttpsClient> http_;
  std::string prefix_;
  mutable std::uint64_t bytes_received_ = 0;
};

}  // namespace pmos::tlogd

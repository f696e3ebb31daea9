#include "pmos/tlogd/client.h"

#include <charconv>

#include <nlohmann/json.hpp>

#include "pmos/tlog/entry_bundle.h"
#include "pmos/tlog/proof.h"

namespace pmos::tlogd {
namespace {

// A tile, an entry bundle (256 entries of up to 64 KiB) or a checkpoint.
constexpr std::size_t kMaxResponse = 256 * (tlog::kMaxEntrySize + 2);

tlog::TileId full(tlog::TileId tile) {
  tile.width = tlog::kTileWidth;
  return tile;
}

}  // namespace

ErrorOr<LogUrl> parse_log_url(std::string_view url) {
  constexpr std::string_view kScheme = "https://";
  if (!url.starts_with(kScheme)) return Error::invalid_argument("log URL must start with https://");
  url.remove_prefix(kScheme.size());
  LogUrl out;
  auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  if (slash != std::string_view::npos) {
    out.prefix = std::string(url.substr(slash));
    while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  }
  auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    std::string_view port = authority.substr(colon + 1);
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
    if (ec != std::errc() || end != port.data() + port.size() || out.port == 0)
      return Error::invalid_argument("bad port in log URL");
    authority = authority.substr(0, colon);
  }
  if (authority.empty()) return Error::invalid_argument("no host in log URL");
  out.host = std::string(authority);
  return out;
}

ErrorOr<std::unique_ptr<LogClient>> LogClient::connect(const net::TlsClientConfig& tls, const LogUrl& url,
                                                       std::chrono::milliseconds timeout) {
  auto http = TRY(net::HttpsClient::connect(tls, url.host, url.port, timeout));
  return std::unique_ptr<LogClient>(new LogClient(std::move(http), url.prefix));
}

ErrorOr<std::string> LogClient::get(const std::string& path) const {
  auto response = TRY(http_->request(net::Method::kGet, prefix_ + "/" + path));
  if (response.status == 404) return Error::not_found("log: 404");
  if (response.status != 200) return Error::decode("log: unexpected HTTP status");
  if (response.body.size() > kMaxResponse) return Error::decode("log: response too large");
  bytes_received_ += response.body.size();
  return std::move(response.body);
}

ErrorOr<std::string> LogClient::fetch_checkpoint_note() { return get("checkpoint"); }

ErrorOr<tlog::OpenedCheckpoint> LogClient::fetch_checkpoint(const tlog::Ed25519NoteVerifier& log_key) {
  auto note = TRY(fetch_checkpoint_note());
  return tlog::open_checkpoint(note, log_key.name(), log_key);
}

ErrorOr<std::vector<Bytes>> LogClient::read_tiles(std::span<const tlog::TileId> tiles) const {
  std::vector<Bytes> out;
  out.reserve(tiles.size());
  for (const tlog::TileId& tile : tiles) {
    auto body = get(tlog::tile_path(tile));
    if (!body && body.error().category() == ErrorCategory::kNotFound && tile.partial())
      body = get(tlog::tile_path(full(tile)));
    if (!body) return body.error();
    out.push_back(to_bytes(*body));
  }
  return out;
}

ErrorOr<std::vector<Bytes>> LogClient::fetch_entry_bundle(const tlog::TileId& bundle) {
  auto body = get(tlog::entry_bundle_path(bundle));
  if (!body && body.error().category() == ErrorCategory::kNotFound && bundle.partial()) {
    auto whole = TRY(get(tlog::entry_bundle_path(full(bundle))));
    auto entries = TRY(tlog::decode_entry_bundle(as_bytes(whole), tlog::kTileWidth));
    entries.resize(bundle.width);
    return entries;
  }
  if (!body) return body.error();
  return tlog::decode_entry_bundle(as_bytes(*body), bundle.width);
}

ErrorOr<Bytes> LogClient::fetch_entry(std::uint64_t index, std::uint64_t tree_size) {
  if (index >= tree_size) return Error::invalid_argument("entry index beyond the tree size");
  tlog::TileId bundle{0, index / tlog::kTileWidth, tlog::kTileWidth};
  const std::uint64_t end = tree_size - bundle.index * tlog::kTileWidth;
  if (end < tlog::kTileWidth) bundle.width = static_cast<std::uint16_t>(end);
  auto entries = TRY(fetch_entry_bundle(bundle));
  return std::move(entries[index % tlog::kTileWidth]);
}

ErrorOr<std::vector<tlog::Hash>> LogClient::inclusion_proof(std::uint64_t index, std::uint64_t tree_size) {
  tlog::TileHashReader reader(*this, tree_size);
  return tlog::inclusion_proof(reader, index, tree_size);
}

ErrorOr<std::vector<tlog::Hash>> LogClient::consistency_proof(std::uint64_t old_size, std::uint64_t new_size) {
  tlog::TileHashReader reader(*this, new_size);
  return tlog::consistency_proof(reader, old_size, new_size);
}

ErrorOr<std::uint64_t> LogClient::add(BytesView entry, std::string_view token) {
  net::Headers headers{{"authorization", "Bearer " + std::string(token)},
                       {"content-type", "application/octet-stream"}};
  auto response = TRY(http_->request(net::Method::kPost, prefix_ + "/add", std::string(as_string(entry)),
                                     std::move(headers)));
  if (response.status == 401) return Error::crypto("log: /add refused the bearer token");
  if (response.status != 200) return Error::invalid_argument("log: /add refused the entry");
  auto json = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("index") || !json["index"].is_number_unsigned())
    return Error::decode("log: /add answer has no index");
  return json["index"].get<std::uint64_t>();
}

}  // namespace pmos::tlogd

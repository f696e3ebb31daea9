// pmos-loadgen: drives a running pmos-server the way phones would, and
// measures durable end-to-end delivery (docs/benchmarks.md, docs/server.md).
//
//   pmos-loadgen --data DIR --port P [--devices 200] [--group-size 2] [--rate 5000]
//                [--duration 10] [--warmup 2] [--size 256] [--threads 1] [--json]
//                [--server-pid PID]   (adds the server's CPU time per delivery)
//   pmos-loadgen --data DIR --port P --idle N [--server-pid PID] [--hold 5]
//
// Load mode enrolls --devices devices (tokens from `pmos-server enroll-token
// --count`), puts them in groups of --group-size, connects every device over
// mTLS WebSocket, and sends --rate application messages per second in all
// (each group member in turn), each fanned out by the relay to the other
// members. A message carries its send time; the receiver's delivery time
// minus it is the end-to-end latency: send, durable group commit, fan-out,
// push. Deliveries are acked as a phone would.
//
// Idle mode opens N connections of one enrolled device and holds them, then
// reports the server's resident memory (from /proc/PID/status).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string>
#include <thread>
#include <vector>

#include "pmos/base/file.h"
#include "pmos/base/openssl_ptr.h"
#include "pmos/mls/mls_message.h"
#include "pmos/net/client.h"
#include "relay.pb.h"

namespace pmos::loadgen {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
namespace pb = ::pmos::relay::v1;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Ws = beast::websocket::stream<beast::ssl_stream<beast::tcp_stream>>;
constexpr auto kUse = asio::as_tuple(asio::use_awaitable);

struct Settings {
  std::string data;
  std::string server_binary;
  std::uint16_t port = 8443;
  int devices = 200;
  int group_size = 2;
  double rate = 5000;
  int duration = 10;
  int warmup = 2;
  std::size_t size = 256;
  int threads = 1;
  bool json = false;
  int idle = 0;
  int server_pid = 0;
  int hold = 5;
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "pmos-loadgen: %s\n", message.c_str());
  std::exit(1);
}

// ---- enrollment

struct Identity {
  std::string id;
  X509Ptr cert;
  EvpPkeyPtr key;
};

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(length));
}

std::vector<std::string> tokens(const Settings& settings, int count, const std::string& user) {
  std::string command = settings.server_binary + " enroll-token --data '" + settings.data + "' --user " + user +
                        " --ttl 1h --count " + std::to_string(count) + " 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) die("cannot run " + settings.server_binary);
  std::vector<std::string> out;
  char line[256];
  while (std::fgets(line, sizeof line, pipe) != nullptr) {
    std::string token(line);
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    if (!token.empty()) out.push_back(token);
  }
  if (::pclose(pipe) != 0 || static_cast<int>(out.size()) != count)
    die("`pmos-server enroll-token --count` failed (is --data the server's data directory?)");
  return out;
}

std::vector<Identity> enroll(const Settings& settings, int count, const std::string& ca_pem) {
  std::string user = "loadgen-" + std::to_string(::getpid());
  std::vector<std::string> one_time = tokens(settings, count, user);
  net::TlsClientConfig tls;
  tls.ca = net::PemSource::memory(ca_pem);
  auto client = net::HttpsClient::connect(tls, "127.0.0.1", settings.port, std::chrono::seconds(10));
  if (!client) die("cannot reach the server on 127.0.0.1:" + std::to_string(settings.port));
  std::vector<Identity> identities;
  for (const std::string& token : one_time) {
    EvpPkeyPtr key(EVP_EC_gen("P-256"));
    X509ReqPtr request(X509_REQ_new());
    X509_REQ_set_pubkey(request.get(), key.get());
    X509_REQ_sign(request.get(), key.get(), EVP_sha256());
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_REQ(bio, request.get());
    nlohmann::json body = {{"token", token}, {"csr", bio_text(bio)}};
    BIO_free(bio);
    auto response = (*client)->request(net::Method::kPost, "/v1/enroll", body.dump());
    if (!response || response->status != 200) die("enrollment failed");
    auto answer = nlohmann::json::parse(response->body);
    std::string cert_pem = answer["certificate"];
    BIO* cert_bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
    X509Ptr cert(PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr));
    BIO_free(cert_bio);
    identities.push_back({answer["device_id"], std::move(cert), std::move(key)});
  }
  return identities;
}

// ---- measurements (one per I/O thread, merged at the end)

struct Stats {
  std::uint64_t sent = 0;
  std::uint64_t accepted = 0;  // answered OK (durable)
  std::uint64_t refused = 0;   // any other answer
  std::uint64_t delivered = 0;
  std::uint64_t backpressure = 0;  // sends skipped: the connection's queue was full
  std::uint64_t closed = 0;        // connections that ended (e.g. closed by the server as slow consumers)
  std::vector<std::uint32_t> latency_us;
  bool measuring = false;
};

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// ---- connections

struct Connection {
  Connection(asio::io_context& io, ssl::context& context) : ws(io, context) {}
  Ws ws;
  std::deque<std::string> out;
  bool writing = false;
  bool open = false;
  std::int64_t last_seq = 0;
  std::int64_t acked_seq = 0;
  // Load mode: this member's send template and where to patch it.
  std::string frame;
  std::size_t id_offset = 0;
  std::size_t time_offset = 0;
  std::uint64_t counter = 0;
};

asio::awaitable<void> write_loop(std::shared_ptr<Connection> connection) {
  while (!connection->out.empty()) {
    auto [error, written] = co_await connection->ws.async_write(asio::buffer(connection->out.front()), kUse);
    (void)written;
    connection->out.pop_front();
    if (error) {
      connection->open = false;
      connection->out.clear();
    }
  }
  connection->writing = false;
}

void enqueue(const std::shared_ptr<Connection>& connection, std::string bytes) {
  if (!connection->open) return;
  connection->out.push_back(std::move(bytes));
  if (connection->writing) return;
  connection->writing = true;
  asio::co_spawn(connection->ws.get_executor(), write_loop(connection), asio::detached);
}

void send_ack(const std::shared_ptr<Connection>& connection) {
  if (connection->last_seq <= connection->acked_seq) return;
  pb::ClientFrame frame;
  frame.mutable_ack()->set_up_to_seq(connection->last_seq);
  connection->acked_seq = connection->last_seq;
  enqueue(connection, frame.SerializeAsString());
}

asio::awaitable<bool> open_connection(std::shared_ptr<Connection> connection, const Identity& identity,
                                      tcp::endpoint server, std::string source) {
  auto& socket = beast::get_lowest_layer(connection->ws).socket();
  boost::system::error_code ec;
  socket.open(tcp::v4(), ec);
  if (!source.empty()) {
    // More than one source address: one (source, destination) pair has
    // only ~28k ephemeral ports.
    socket.bind(tcp::endpoint(asio::ip::make_address(source), 0), ec);
  }
  if (ec) co_return false;
  auto [connect_error] = co_await beast::get_lowest_layer(connection->ws).async_connect(server, kUse);
  if (connect_error) co_return false;
  // As the devices' client does (libs/net): without it Nagle holds a send
  // behind the previous one's delayed ACK (up to 40 ms) and the latency
  // measured is the load generator's own.
  socket.set_option(tcp::no_delay(true), ec);
  SSL* ssl = connection->ws.next_layer().native_handle();
  SSL_use_certificate(ssl, identity.cert.get());
  SSL_use_PrivateKey(ssl, identity.key.get());
  SSL_set_tlsext_host_name(ssl, "localhost");
  auto [tls_error] = co_await connection->ws.next_layer().async_handshake(ssl::stream_base::client, kUse);
  if (tls_error) co_return false;
  auto [ws_error] = co_await connection->ws.async_handshake("127.0.0.1", "/v1/relay", kUse);
  if (ws_error) co_return false;
  connection->ws.binary(true);
  connection->ws.read_message_max(4 << 20);
  connection->open = true;
  co_return true;
}

asio::awaitable<void> read_loop(std::shared_ptr<Connection> connection, Stats* stats) {
  beast::flat_buffer buffer;
  pb::ServerFrame frame;
  for (;;) {
    auto [error, bytes] = co_await connection->ws.async_read(buffer, kUse);
    if (error) break;
    (void)bytes;
    auto data = buffer.cdata();
    bool parsed = frame.ParseFromArray(data.data(), static_cast<int>(data.size()));
    buffer.consume(buffer.size());
    if (!parsed) continue;
    if (frame.has_response()) {
      if (frame.response().status() == pb::OK) {
        ++stats->accepted;
      } else {
        ++stats->refused;
      }
    } else if (frame.has_delivery()) {
      const pb::Delivery& delivery = frame.delivery();
      connection->last_seq = delivery.seq();
      ++stats->delivered;
      // The send time is the last 8 bytes of the ciphertext, which ends the
      // MLS message (PrivateMessage: group_id, epoch, content_type,
      // authenticated_data, encrypted_sender_data, ciphertext).
      const std::string& message = delivery.message();
      if (stats->measuring && message.size() >= 8) {
        std::int64_t sent = 0;
        std::memcpy(&sent, message.data() + message.size() - 8, 8);
        std::int64_t micros = (now_ns() - sent) / 1000;
        if (micros >= 0) stats->latency_us.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(micros, UINT32_MAX)));
      }
      if (connection->last_seq - connection->acked_seq >= 32) send_ack(connection);
    }
  }
  connection->open = false;
  ++stats->closed;
}

// ---- the send template of one member

void build_template(Connection& connection, const std::string& group, std::size_t size) {
  constexpr std::uint8_t kIdMark = 0xE1;
  constexpr std::uint8_t kTimeMark = 0xE7;
  mls::PrivateMessage message;
  message.group_id = Bytes(group.begin(), group.end());
  message.epoch = 0;
  message.content_type = mls::ContentType::kApplication;
  message.encrypted_sender_data = Bytes(32, 0x5a);
  message.ciphertext = Bytes(std::max<std::size_t>(size, 16), 0x42);
  std::fill(message.ciphertext.end() - 8, message.ciphertext.end(), kTimeMark);
  Bytes encoded = tls::encode(mls::MlsMessage{mls::ProtocolVersion::kMls10, message});
  pb::ClientFrame frame;
  frame.set_request_id(1);
  frame.mutable_send_message()->set_client_message_id(std::string(16, static_cast<char>(kIdMark)));
  frame.mutable_send_message()->set_message(std::string(encoded.begin(), encoded.end()));
  connection.frame = frame.SerializeAsString();
  connection.id_offset = connection.frame.find(std::string(16, static_cast<char>(kIdMark)));
  connection.time_offset = connection.frame.rfind(std::string(8, static_cast<char>(kTimeMark)));
  if (connection.id_offset == std::string::npos || connection.time_offset == std::string::npos)
    die("internal: template markers not found");
}

void send_one(const std::shared_ptr<Connection>& connection, std::uint64_t run_id, Stats& stats) {
  if (connection->out.size() > 256) {
    ++stats.backpressure;
    return;
  }
  std::string bytes = connection->frame;
  std::uint64_t id[2] = {run_id, ++connection->counter};
  std::memcpy(bytes.data() + connection->id_offset, id, 16);
  std::int64_t sent = now_ns();
  std::memcpy(bytes.data() + connection->time_offset, &sent, 8);
  ++stats.sent;
  enqueue(connection, std::move(bytes));
}

// ---- per-thread driver

struct Worker {
  asio::io_context io{1};
  // Keeps run() going when every connection has ended (a server past
  // saturation closes slow consumers): the main thread still posts to it.
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::vector<std::shared_ptr<Connection>> connections;
  Stats stats;
  std::thread thread;
};

// /proc/PID/<name> as text; empty if unreadable.
std::string proc_file(int pid, const char* name) {
  auto contents = read_file("/proc/" + std::to_string(pid) + "/" + name, 1 << 16);
  return contents ? std::string(as_string(*contents)) : std::string();
}

long server_rss_kib(int pid) {
  std::string text = proc_file(pid, "status");
  std::size_t at = text.find("VmRSS:");
  if (at == std::string::npos) return -1;
  return std::atol(text.c_str() + at + 6);
}

// The server's CPU time so far (user + system, in seconds), from
// /proc/PID/stat; -1 if unreadable. On a machine shared with other work,
// CPU per delivery compares runs better than deliveries per second.
double server_cpu_seconds(int pid) {
  std::string text = proc_file(pid, "stat");
  // Fields after the command name, which is in parentheses and may hold spaces.
  std::size_t at = text.rfind(')');
  if (at == std::string::npos) return -1;
  std::vector<std::string> fields;
  std::size_t pos = at + 2;
  while (pos < text.size() && fields.size() < 13) {
    std::size_t end = text.find(' ', pos);
    if (end == std::string::npos) end = text.size();
    fields.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  if (fields.size() < 13) return -1;
  // fields[11] is utime and fields[12] stime (proc(5) fields 14 and 15).
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return (std::atof(fields[11].c_str()) + std::atof(fields[12].c_str())) / ticks;
}

void raise_fd_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

double percentile(const std::vector<std::uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  std::size_t index = std::min(sorted.size() - 1, static_cast<std::size_t>(p * static_cast<double>(sorted.size())));
  return static_cast<double>(sorted[index]) / 1000.0;
}

int run_idle(const Settings& settings, ssl::context& context, tcp::endpoint server, const std::string& ca_pem) {
  std::vector<Identity> identity = enroll(settings, 1, ca_pem);
  Worker worker;
  std::atomic<int> opened{0}, failed{0};
  // Handshakes in flight at once: enough to keep the server busy, few
  // enough not to trip its handshake timeout.
  constexpr int kConcurrency = 64;
  auto next = std::make_shared<int>(0);
  auto started = Clock::now();
  for (int lane = 0; lane < kConcurrency; ++lane) {
    asio::co_spawn(
        worker.io,
        [&, next]() -> asio::awaitable<void> {
          while (*next < settings.idle) {
            int index = (*next)++;
            auto connection = std::make_shared<Connection>(worker.io, context);
            std::string source = "127.0." + std::to_string(1 + index / 20000) + "." + std::to_string(2 + (index / 200) % 250);
            bool ok = co_await open_connection(connection, identity[0], server, source);
            if (ok) {
              ++opened;
              worker.connections.push_back(connection);
              asio::co_spawn(worker.io, read_loop(connection, &worker.stats), asio::detached);
            } else {
              ++failed;
            }
          }
        },
        asio::detached);
  }
  long rss_before = settings.server_pid ? server_rss_kib(settings.server_pid) : -1;
  std::thread runner([&] { worker.io.run(); });
  while (opened + failed < settings.idle) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  double connect_seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::this_thread::sleep_for(std::chrono::seconds(settings.hold));
  long rss = settings.server_pid ? server_rss_kib(settings.server_pid) : -1;
  int still_open = 0;
  asio::post(worker.io, [&] {
    for (auto& connection : worker.connections) still_open += connection->open ? 1 : 0;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  nlohmann::json out = {{"mode", "idle"},           {"requested", settings.idle}, {"opened", opened.load()},
                        {"failed", failed.load()},  {"open_after_hold", still_open},
                        {"connect_seconds", connect_seconds}, {"server_rss_kib_before", rss_before},
                        {"server_rss_kib", rss}};
  if (rss > 0 && rss_before > 0 && opened > 0)
    out["server_kib_per_connection"] = static_cast<double>(rss - rss_before) / opened.load();
  std::printf("%s\n", settings.json ? out.dump().c_str() : out.dump(2).c_str());
  worker.io.stop();
  runner.join();
  return failed == 0 ? 0 : 1;
}

int run_load(const Settings& settings, ssl::context& context, tcp::endpoint server, const std::string& ca_pem) {
  if (settings.devices % settings.group_size != 0) die("--devices must be a multiple of --group-size");
  std::fprintf(stderr, "enrolling %d devices...\n", settings.devices);
  std::vector<Identity> identities = enroll(settings, settings.devices, ca_pem);
  std::uint64_t run_id = static_cast<std::uint64_t>(now_ns());

  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < settings.threads; ++i) workers.push_back(std::make_unique<Worker>());

  // Connect everyone (each worker its share), then create the groups.
  std::fprintf(stderr, "connecting %d devices...\n", settings.devices);
  std::vector<std::shared_ptr<Connection>> all(static_cast<std::size_t>(settings.devices));
  std::atomic<int> done{0}, failed{0};
  for (int i = 0; i < settings.devices; ++i) {
    Worker& worker = *workers[static_cast<std::size_t>(i % settings.threads)];
    auto connection = std::make_shared<Connection>(worker.io, context);
    all[static_cast<std::size_t>(i)] = connection;
    worker.connections.push_back(connection);
    asio::co_spawn(
        worker.io,
        [&, connection, i, stats = &worker.stats]() -> asio::awaitable<void> {
          bool ok = co_await open_connection(connection, identities[static_cast<std::size_t>(i)], server, "");
          ok ? ++done : ++failed;
          if (ok) co_await read_loop(connection, stats);
        },
        asio::detached);
  }
  for (auto& worker : workers) worker->thread = std::thread([w = worker.get()] { w->io.run(); });
  while (done + failed < settings.devices) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (failed > 0) die(std::to_string(failed.load()) + " connections failed");

  int groups = settings.devices / settings.group_size;
  for (int g = 0; g < groups; ++g) {
    std::string group = "loadgen-" + std::to_string(run_id) + "-" + std::to_string(g);
    pb::ClientFrame create;
    create.set_request_id(2);
    create.mutable_create_group()->set_group_id(group);
    for (int m = 1; m < settings.group_size; ++m)
      create.mutable_create_group()->add_member_devices(identities[static_cast<std::size_t>(g * settings.group_size + m)].id);
    for (int m = 0; m < settings.group_size; ++m)
      build_template(*all[static_cast<std::size_t>(g * settings.group_size + m)], group, settings.size);
    auto& creator = all[static_cast<std::size_t>(g * settings.group_size)];
    asio::post(creator->ws.get_executor(), [creator, bytes = create.SerializeAsString()] { enqueue(creator, bytes); });
  }
  // The creates are answered in order per connection, before any send.
  std::this_thread::sleep_for(std::chrono::milliseconds(500 + groups));

  // Pacing: each worker sends its share of --rate, round robin over its
  // connections, checked every millisecond.
  std::atomic<bool> stop{false};
  for (auto& worker : workers) {
    Worker* w = worker.get();
    double rate = settings.rate / settings.threads;
    asio::co_spawn(
        w->io,
        [w, rate, run_id, &stop]() -> asio::awaitable<void> {
          asio::steady_timer timer(w->io);
          auto start = Clock::now();
          std::uint64_t sent = 0;
          std::size_t next = 0;
          int ticks = 0;
          while (!stop.load()) {
            timer.expires_after(std::chrono::milliseconds(1));
            co_await timer.async_wait(kUse);
            double due = rate * std::chrono::duration<double>(Clock::now() - start).count();
            while (static_cast<double>(sent) < due && !w->connections.empty()) {
              send_one(w->connections[next], run_id, w->stats);
              next = (next + 1) % w->connections.size();
              ++sent;
            }
            // Acks of what arrived since the last ack, every 10 ms.
            if (++ticks % 10 == 0)
              for (auto& connection : w->connections) send_ack(connection);
          }
          for (auto& connection : w->connections) send_ack(connection);
        },
        asio::detached);
  }
  auto set_measuring = [&](bool on) {
    for (auto& worker : workers) asio::post(worker->io, [w = worker.get(), on] { w->stats.measuring = on; });
  };
  auto snapshot = [&] {
    Stats total;
    std::mutex mutex;
    std::atomic<int> pending{static_cast<int>(workers.size())};
    for (auto& worker : workers) {
      asio::post(worker->io, [&, w = worker.get()] {
        std::lock_guard lock(mutex);
        total.sent += w->stats.sent;
        total.accepted += w->stats.accepted;
        total.refused += w->stats.refused;
        total.delivered += w->stats.delivered;
        total.backpressure += w->stats.backpressure;
        total.closed += w->stats.closed;
        --pending;
      });
    }
    while (pending > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return total;
  };

  std::fprintf(stderr, "warming up %d s, measuring %d s at %.0f messages/s...\n", settings.warmup, settings.duration,
               settings.rate);
  std::this_thread::sleep_for(std::chrono::seconds(settings.warmup));
  set_measuring(true);
  Stats before = snapshot();
  const double cpu_before = settings.server_pid ? server_cpu_seconds(settings.server_pid) : -1;
  auto started = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(settings.duration));
  Stats after = snapshot();
  const double cpu_after = settings.server_pid ? server_cpu_seconds(settings.server_pid) : -1;
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  set_measuring(false);
  stop = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));

  std::vector<std::uint32_t> latencies;
  {
    std::mutex mutex;
    std::atomic<int> pending{static_cast<int>(workers.size())};
    for (auto& worker : workers) {
      asio::post(worker->io, [&, w = worker.get()] {
        std::lock_guard lock(mutex);
        latencies.insert(latencies.end(), w->stats.latency_us.begin(), w->stats.latency_us.end());
        --pending;
      });
    }
    while (pending > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::sort(latencies.begin(), latencies.end());
  for (auto& worker : workers) worker->io.stop();
  for (auto& worker : workers) worker->thread.join();

  nlohmann::json out = {
      {"mode", "load"},
      {"devices", settings.devices},
      {"group_size", settings.group_size},
      {"target_sends_per_s", settings.rate},
      {"seconds", seconds},
      {"sends_per_s", static_cast<double>(after.sent - before.sent) / seconds},
      {"durable_sends_per_s", static_cast<double>(after.accepted - before.accepted) / seconds},
      {"deliveries_per_s", static_cast<double>(after.delivered - before.delivered) / seconds},
      {"refused", after.refused - before.refused},
      {"backpressure_skips", after.backpressure - before.backpressure},
      {"connections_closed", after.closed},
      // Server CPU (user + system) per delivery, in microseconds: -1 without --server-pid.
      {"server_cpu_us_per_delivery",
       cpu_before < 0 || cpu_after < 0 || after.delivered == before.delivered
           ? -1.0
           : (cpu_after - cpu_before) * 1e6 / static_cast<double>(after.delivered - before.delivered)},
      {"latency_ms", {{"p50", percentile(latencies, 0.50)}, {"p99", percentile(latencies, 0.99)},
                      {"p999", percentile(latencies, 0.999)}, {"samples", latencies.size()}}}};
  std::printf("%s\n", settings.json ? out.dump().c_str() : out.dump(2).c_str());
  return 0;
}

bool parse_int(const char* text, long long& out) {
  std::string_view view(text);
  auto [end, error] = std::from_chars(view.data(), view.data() + view.size(), out);
  return error == std::errc() && end == view.data() + view.size();
}

}  // namespace
}  // namespace pmos::loadgen

int main(int argc, char** argv) {
  using namespace pmos::loadgen;
  Settings settings;
  std::error_code ignored;
  settings.server_binary =
      (std::filesystem::read_symlink("/proc/self/exe", ignored).parent_path() / "pmos-server").string();
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--json") {
      settings.json = true;
      continue;
    }
    if (flag == "--help") {
      std::puts(
          "usage: pmos-loadgen --data DIR --port P [--devices 200] [--group-size 2] [--rate 5000]\n"
          "                    [--duration 10] [--warmup 2] [--size 256] [--threads 1] [--json]\n"
          "       pmos-loadgen --data DIR --port P --idle N [--server-pid PID] [--hold 5] [--json]\n"
          "       [--server-binary PATH]   (default: pmos-server beside pmos-loadgen)");
      return 0;
    }
    if (i + 1 >= argc) die(flag + " needs a value (see --help)");
    const char* value = argv[++i];
    long long number = 0;
    bool numeric = parse_int(value, number);
    auto need = [&](long long min, long long max) {
      if (!numeric || number < min || number > max)
        die(flag + ": a whole number from " + std::to_string(min) + " to " + std::to_string(max));
      return number;
    };
    if (flag == "--data") settings.data = value;
    else if (flag == "--server-binary") settings.server_binary = value;
    else if (flag == "--port") settings.port = static_cast<std::uint16_t>(need(1, 65535));
    else if (flag == "--devices") settings.devices = static_cast<int>(need(2, 20000));
    else if (flag == "--group-size") settings.group_size = static_cast<int>(need(2, 10000));
    else if (flag == "--rate") settings.rate = static_cast<double>(need(1, 10'000'000));
    else if (flag == "--duration") settings.duration = static_cast<int>(need(1, 3600));
    else if (flag == "--warmup") settings.warmup = static_cast<int>(need(0, 600));
    else if (flag == "--size") settings.size = static_cast<std::size_t>(need(16, 1 << 20));
    else if (flag == "--threads") settings.threads = static_cast<int>(need(1, 64));
    else if (flag == "--idle") settings.idle = static_cast<int>(need(1, 1'000'000));
    else if (flag == "--server-pid") settings.server_pid = static_cast<int>(need(1, 1 << 30));
    else if (flag == "--hold") settings.hold = static_cast<int>(need(0, 3600));
    else die("unknown option " + flag + " (see --help)");
  }
  if (settings.data.empty()) die("--data DIR (the server's data directory) is required");
  raise_fd_limit();

  auto ca = pmos::read_file(settings.data + "/ca.pem", 1 << 20);
  if (!ca) die("cannot read " + settings.data + "/ca.pem");
  std::string ca_pem(pmos::as_string(*ca));
  ssl::context context(ssl::context::tls_client);
  context.set_options(ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_3_VERSION);
  context.add_certificate_authority(asio::buffer(ca_pem));
  context.set_verify_mode(ssl::verify_peer);
  tcp::endpoint server(asio::ip::make_address("127.0.0.1"), settings.port);
  return settings.idle > 0 ? run_idle(settings, context, server, ca_pem) : run_load(settings, context, server, ca_pem);
}

#pragma once

// What the log and witness roles share: flag checks, the TLS listener on
// the server's certificate, and the signal loop.

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "data_dir.h"
#include "options.h"
#include "pmos/net/server.h"

namespace pmos::server::role {

int fail(std::string_view what, const Error& error);
int usage_error(std::string_view message);
// Flags the command did not read are typos: refuse them.
bool refuse_unread(const Options& options);
// The setting `setting` (e.g. log-database) if given, else DIR/<file>. Not
// `database`: the relay, the log and the witness each keep their own
// schema history and must not share one database.
store::DatabaseConfig database(const DataDir& dir, const Options& options, const std::string& setting,
                               const std::string& file);

// Blocks SIGINT/SIGTERM/SIGHUP so that wait_for_signal() takes them; call
// before any thread starts.
void block_signals();
// Starts an HTTPS server on the data directory's server certificate (from
// `pmos-server init`), public (no client certificates), and prints the one
// line "pmos-server <role> listening on https://HOST:PORT".
ErrorOr<std::unique_ptr<net::Server>> listen(const DataDir& dir, const ListenAddress& address, net::Router router,
                                             int threads, std::string_view role);
// Waits for a signal, calling `tick` every 250 ms.
int wait_for_signal(const std::function<void()>& tick = {});

}  // namespace pmos::server::role

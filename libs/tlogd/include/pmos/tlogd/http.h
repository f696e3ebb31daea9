#pragma once

// The log's HTTP interface on libs/net's router, exactly per C2SP
// tlog-tiles v0.1.0, plus the authority's append endpoint:
//
//   GET  /checkpoint                  signed note, text/plain; short max-age
//   GET  /tile/<L>/<N>[.p/<W>]        hash tile; full tiles immutable
//   GET  /tile/entries/<N>[.p/<W>]    entry bundle; full bundles immutable
//   POST /add                         body = one entry; Authorization: Bearer
//                                     <token>; answers {"index": N} once durable
//
// The read routes are anonymous: the log is public and every response is
// verifiable against the signed checkpoint.

#include <string>

#include "pmos/base/error_or.h"
#include "pmos/net/router.h"
#include "pmos/tlogd/log.h"

namespace pmos::tlogd {

inline constexpr std::string_view kImmutableCacheControl = "public, max-age=31536000, immutable";
// Partial tiles never change either, but the log may delete them once the
// full tile exists (tlog-tiles "Partial Tiles"), so caches should not keep
// them for long. The checkpoint changes with every integration round.
inline constexpr std::string_view kPartialCacheControl = "public, max-age=60";
inline constexpr std::string_view kCheckpointCacheControl = "public, max-age=1, must-revalidate";

struct HttpOptions {
  // The bearer token that /add requires. Empty: no /add route at all, a
  // read-only mirror of the log.
  std::string add_token;
};

// Adds the routes above to `router`. Borrows `log`, which must outlive the
// server the router is given to.
//
// FIXME: libs/net handlers are synchronous and run on an I/O thread, so a
// POST /add holds that thread for one group commit (about one fsync, a few
// ms). Use append_async once net has an asynchronous handler form; until
// then give the server enough I/O threads for the expected append rate.
ErrorOr<void> add_http_routes(net::Router& router, Log& log, HttpOptions options);

}  // namespace pmos::tlogd

#pragma once

#include <string>

#include "pmos/base/error_or.h"

namespace pmos::cli {

struct PemPair {
  std::string certificate;
  std::string private_key;
};

// A self-signed TLS server certificate (P-256, one year) for `host` plus
// 127.0.0.1 and localhost: what `pmos-log serve` uses when given no
// certificate, so a test or lab log runs without a CA. Clients pin it with
// --ca. Production logs are given a real certificate (docs/log.md).
ErrorOr<PemPair> make_self_signed(const std::string& host);

}  // namespace pmos::cli

#pragma once

#include <string>
#include <string_view>

#include "pmos/base/error_or.h"
#include "pmos/crypto/keys.h"
#include "pmos/pkg/package.h"

namespace pmos::pkg {

// Key files of `pmos app` (docs/formats/package.md, "Key files"): one line of
// text each,
//   pmos-signing-key-v1 ed25519 <64 hex: the RFC 8032 private key (seed)>\n
//   pmos-public-key-v1 ed25519 <64 hex: the public key>\n
// Parsing is strict: exactly that line, lower-case hex, one trailing newline.
std::string format_private_key_file(const crypto::PrivateKey& key);
std::string format_public_key_file(const SignerKey& key);
ErrorOr<crypto::PrivateKey> parse_private_key_file(std::string_view text);
ErrorOr<SignerKey> parse_public_key_file(std::string_view text);

}  // namespace pmos::pkg

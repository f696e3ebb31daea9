#include "pmos/pkg/key_file.h"

#include "pmos/base/secret_bytes.h"
#include "pmos/crypto/signature.h"
#include "pmos/pkg/errors.h"

namespace pmos::pkg {
namespace {

constexpr std::string_view kPrivatePrefix = "pmos-signing-key-v1 ed25519 ";
constexpr std::string_view kPublicPrefix = "pmos-public-key-v1 ed25519 ";
constexpr std::size_t kHexBytes = 64;

bool is_lower_hex(std::string_view text) {
  for (char c : text)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// The hex field of a one-line key file, or an error.
ErrorOr<std::string_view> field(std::string_view text, std::string_view prefix) {
  if (!text.starts_with(prefix) || text.size() != prefix.size() + kHexBytes + 1 || text.back() != '\n')
    return errors::kBadKeyFile;
  std::string_view hex = text.substr(prefix.size(), kHexBytes);
  if (!is_lower_hex(hex)) return errors::kBadKeyFile;
  return hex;
}

}  // namespace

std::string format_private_key_file(const crypto::PrivateKey& key) {
  return std::string(kPrivatePrefix) + to_hex(key.private_bytes()) + "\n";
}

std::string format_public_key_file(const SignerKey& key) {
  return std::string(kPublicPrefix) + to_hex(key.public_key) + "\n";
}

ErrorOr<crypto::PrivateKey> parse_private_key_file(std::string_view text) {
  std::string_view hex = TRY(field(text, kPrivatePrefix));
  // The decoded seed is a secret: keep it in wiped memory.
  Bytes decoded = TRY(from_hex(hex));
  SecretBytes seed = SecretBytes::copy_of(decoded);
  secure_zero(decoded);
  return crypto::ed25519().private_key(seed);
}

ErrorOr<SignerKey> parse_public_key_file(std::string_view text) {
  std::string_view hex = TRY(field(text, kPublicPrefix));
  SignerKey key{SignatureAlgorithm::kEd25519, TRY(from_hex(hex))};
  TRY(key.to_public_key());  // a point that is not on the curve is refused here
  return key;
}

}  // namespace pmos::pkg

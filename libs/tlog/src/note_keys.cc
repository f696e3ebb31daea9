#include "pmos/tlog/note_keys.h"

#include <cstdio>

#include "base64.h"
#include "pmos/base/check.h"
#include "pmos/crypto/hash.h"
#include "pmos/crypto/signature.h"
#include "sha256.h"

namespace pmos::tlog {
namespace {

constexpr std::string_view kSkeyPrefix = "PRIVATE+KEY+";
constexpr std::size_t kEd25519KeySize = 32;

std::string hex_key_id(std::uint32_t id) {
  char buffer[9];
  std::snprintf(buffer, sizeof buffer, "%08x", id);
  return std::string(buffer, 8);
}

ErrorOr<std::uint32_t> parse_hex_key_id(std::string_view text) {
  if (text.size() != 8) return Error::decode("key: key id is not 8 hex digits");
  std::uint32_t id = 0;
  for (char c : text) {
    std::uint32_t digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<std::uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<std::uint32_t>(c - 'a' + 10);
    } else {
      // signed-note: "fixed length lowercase".
      return Error::decode("key: key id is not 8 lower-case hex digits");
    }
    id = (id << 4) | digit;
  }
  return id;
}

}  // namespace

std::uint32_t compute_key_id(std::string_view name, std::uint8_t type, BytesView public_key) {
  const std::uint8_t separator[2] = {'\n', type};
  Hash h = detail::sha256({as_bytes(name), BytesView(separator, 2), public_key});
  return (std::uint32_t{h[0]} << 24) | (std::uint32_t{h[1]} << 16) | (std::uint32_t{h[2]} << 8) | h[3];
}

ErrorOr<VerifierKey> parse_vkey(std::string_view vkey) {
  // The name and hex id cannot contain '+'; the base64 part can.
  std::size_t first = vkey.find('+');
  if (first == std::string_view::npos) return Error::decode("key: vkey is not name+id+key");
  std::size_t second = vkey.find('+', first + 1);
  if (second == std::string_view::npos) return Error::decode("key: vkey is not name+id+key");
  VerifierKey key;
  std::string_view name = vkey.substr(0, first);
  if (!is_valid_key_name(name)) return Error::decode("key: invalid key name");
  key.name = std::string(name);
  key.key_id = TRY(parse_hex_key_id(vkey.substr(first + 1, second - first - 1)));
  auto decoded = detail::base64_decode(vkey.substr(second + 1));
  if (!decoded) return Error::decode("key: key material is not valid base64");
  Bytes material = decoded.release_value();
  if (material.empty()) return Error::decode("key: no key material");
  key.type = material[0];
  key.public_key.assign(material.begin() + 1, material.end());
  return key;
}

std::string format_vkey(const VerifierKey& key) {
  Bytes material = {key.type};
  append(material, key.public_key);
  return key.name + "+" + hex_key_id(key.key_id) + "+" + detail::base64_encode(material);
}

ErrorOr<Ed25519NoteVerifier> Ed25519NoteVerifier::create(std::string_view name, BytesView public_key) {
  if (!is_valid_key_name(name)) return Error::invalid_argument("key: invalid key name");
  if (public_key.size() != kEd25519KeySize) return Error::invalid_argument("key: Ed25519 public key is not 32 bytes");
  crypto::PublicKey key = TRY(crypto::ed25519().public_key(public_key));
  return Ed25519NoteVerifier(std::string(name), compute_key_id(name, kSignatureTypeEd25519, public_key),
                             std::move(key));
}

ErrorOr<Ed25519NoteVerifier> Ed25519NoteVerifier::from_vkey(std::string_view vkey) {
  VerifierKey parsed = TRY(parse_vkey(vkey));
  if (parsed.type != kSignatureTypeEd25519) return Error::unsupported("key: vkey is not an Ed25519 (type 0x01) key");
  if (parsed.public_key.size() != kEd25519KeySize) return Error::decode("key: Ed25519 public key is not 32 bytes");
  Ed25519NoteVerifier verifier = TRY(create(parsed.name, parsed.public_key));
  if (verifier.key_id() != parsed.key_id) return Error::decode("key: key id does not match the name and key");
  return verifier;
}

std::string Ed25519NoteVerifier::vkey() const {
  return format_vkey(VerifierKey{name_, key_id_, kSignatureTypeEd25519, to_bytes(key_.bytes())});
}

ErrorOr<void> Ed25519NoteVerifier::verify(std::string_view text, BytesView signature) const {
  return crypto::ed25519().verify(key_, as_bytes(text), signature);
}

ErrorOr<Ed25519NoteSigner> Ed25519NoteSigner::generate(std::string_view name) {
  if (!is_valid_key_name(name)) return Error::invalid_argument("key: invalid key name");
  crypto::PrivateKey key = TRY(crypto::ed25519().generate());
  std::uint32_t id = compute_key_id(name, kSignatureTypeEd25519, key.public_key().bytes());
  return Ed25519NoteSigner(std::string(name), id, std::move(key));
}

ErrorOr<Ed25519NoteSigner> Ed25519NoteSigner::from_skey(std::string_view skey) {
  if (!skey.starts_with(kSkeyPrefix)) return Error::decode("key: skey does not start with PRIVATE+KEY+");
  std::string_view rest = skey.substr(kSkeyPrefix.size());
  std::size_t first = rest.find('+');
  if (first == std::string_view::npos) return Error::decode("key: skey is not PRIVATE+KEY+name+id+key");
  std::size_t second = rest.find('+', first + 1);
  if (second == std::string_view::npos) return Error::decode("key: skey is not PRIVATE+KEY+name+id+key");
  std::string_view name = rest.substr(0, first);
  if (!is_valid_key_name(name)) return Error::decode("key: invalid key name");
  std::uint32_t id = TRY(parse_hex_key_id(rest.substr(first + 1, second - first - 1)));
  auto decoded = detail::base64_decode(rest.substr(second + 1));
  if (!decoded) return Error::decode("key: key material is not valid base64");
  SecretBytes material = SecretBytes::copy_of(decoded.value());
  secure_zero(decoded.value());
  if (material.size() != 1 + kEd25519KeySize || material.data()[0] != kSignatureTypeEd25519) {
    return Error::decode("key: skey is not an Ed25519 seed of 32 bytes");
  }
  crypto::PrivateKey key = TRY(crypto::ed25519().private_key(material.view().subspan(1)));
  if (compute_key_id(name, kSignatureTypeEd25519, key.public_key().bytes()) != id) {
    return Error::decode("key: key id does not match the name and key");
  }
  return Ed25519NoteSigner(std::string(name), id, std::move(key));
}

SecretBytes Ed25519NoteSigner::skey() const {
  SecretBytes material(1 + kEd25519KeySize);
  material.data()[0] = kSignatureTypeEd25519;
  BytesView seed = key_.private_bytes();
  std::copy(seed.begin(), seed.end(), material.data() + 1);
  // Built in pieces that are wiped; the base64 text is the secret itself.
  std::string encoded = detail::base64_encode(material.view());
  std::string text = std::string(kSkeyPrefix) + name_ + "+" + hex_key_id(key_id_) + "+" + encoded;
  SecretBytes out = SecretBytes::copy_of(as_bytes(text));
  secure_zero(MutableBytesView(reinterpret_cast<std::uint8_t*>(encoded.data()), encoded.size()));
  secure_zero(MutableBytesView(reinterpret_cast<std::uint8_t*>(text.data()), text.size()));
  return out;
}

Ed25519NoteVerifier Ed25519NoteSigner::verifier() const {
  auto verifier = Ed25519NoteVerifier::create(name_, key_.public_key().bytes());
  // The name was checked and the key came from libs/crypto: cannot fail.
  VERIFY(verifier.has_value());
  return verifier.release_value();
}

ErrorOr<Bytes> Ed25519NoteSigner::sign(std::string_view text) const {
  return crypto::ed25519().sign(key_, as_bytes(text));
}

}  // namespace pmos::tlog

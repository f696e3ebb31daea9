#include "pmos/tlog/cosignature.h"

#include <algorithm>
#include <chrono>

#include "pmos/base/check.h"
#include "pmos/crypto/signature.h"

namespace pmos::tlog {
namespace {

constexpr std::size_t kEd25519KeySize = 32;
constexpr std::size_t kEd25519SignatureSize = 64;

std::uint64_t system_now() {
  auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count());
}

}  // namespace

std::string cosignature_message(std::string_view text, std::uint64_t timestamp) {
  std::string message = "cosignature/v1\ntime " + std::to_string(timestamp) + "\n";
  message += text;
  return message;
}

ErrorOr<std::uint64_t> cosignature_timestamp(BytesView signature) {
  if (signature.size() != kCosignatureSize) return Error::decode("cosignature: not 72 bytes");
  std::uint64_t timestamp = 0;
  for (std::size_t i = 0; i < 8; ++i) timestamp = (timestamp << 8) | signature[i];
  if (timestamp > kMaxCosignatureTimestamp) return Error::decode("cosignature: timestamp above 2^63 - 1");
  return timestamp;
}

ErrorOr<CosignatureVerifier> CosignatureVerifier::create(std::string_view name, BytesView public_key) {
  if (!is_valid_key_name(name)) return Error::invalid_argument("key: invalid key name");
  if (public_key.size() != kEd25519KeySize) return Error::invalid_argument("key: Ed25519 public key is not 32 bytes");
  crypto::PublicKey key = TRY(crypto::ed25519().public_key(public_key));
  return CosignatureVerifier(std::string(name), compute_key_id(name, kSignatureTypeCosignatureV1, public_key),
                             std::move(key));
}

ErrorOr<CosignatureVerifier> CosignatureVerifier::from_vkey(std::string_view vkey) {
  VerifierKey parsed = TRY(parse_vkey(vkey));
  if (parsed.type != kSignatureTypeCosignatureV1) {
    return Error::unsupported("key: vkey is not a cosignature/v1 (type 0x04) key");
  }
  if (parsed.public_key.size() != kEd25519KeySize) return Error::decode("key: Ed25519 public key is not 32 bytes");
  CosignatureVerifier verifier = TRY(create(parsed.name, parsed.public_key));
  if (verifier.key_id() != parsed.key_id) return Error::decode("key: key id does not match the name and key");
  return verifier;
}

std::string CosignatureVerifier::vkey() const {
  return format_vkey(VerifierKey{name_, key_id_, kSignatureTypeCosignatureV1, to_bytes(key_.bytes())});
}

ErrorOr<void> CosignatureVerifier::verify(std::string_view text, BytesView signature) const {
  std::uint64_t timestamp = TRY(cosignature_timestamp(signature));
  // The statement a witness makes is about a checkpoint; text that is not
  // one carries no cosignature/v1 meaning.
  TRY(parse_checkpoint(text));
  std::string message = cosignature_message(text, timestamp);
  return crypto::ed25519().verify(key_, as_bytes(message), signature.subspan(8));
}

ErrorOr<CosignatureSigner> CosignatureSigner::generate(std::string_view name, Clock clock) {
  if (!is_valid_key_name(name)) return Error::invalid_argument("key: invalid key name");
  crypto::PrivateKey key = TRY(crypto::ed25519().generate());
  std::uint32_t id = compute_key_id(name, kSignatureTypeCosignatureV1, key.public_key().bytes());
  return CosignatureSigner(std::string(name), id, std::move(key), clock ? std::move(clock) : Clock(system_now));
}

ErrorOr<CosignatureSigner> CosignatureSigner::from_seed(std::string_view name, BytesView seed, Clock clock) {
  if (!is_valid_key_name(name)) return Error::invalid_argument("key: invalid key name");
  if (seed.size() != kEd25519KeySize) return Error::invalid_argument("key: Ed25519 seed is not 32 bytes");
  crypto::PrivateKey key = TRY(crypto::ed25519().private_key(seed));
  std::uint32_t id = compute_key_id(name, kSignatureTypeCosignatureV1, key.public_key().bytes());
  return CosignatureSigner(std::string(name), id, std::move(key), clock ? std::move(clock) : Clock(system_now));
}

CosignatureVerifier CosignatureSigner::verifier() const {
  auto verifier = CosignatureVerifier::create(name_, key_.public_key().bytes());
  VERIFY(verifier.has_value());
  return verifier.release_value();
}

ErrorOr<Bytes> CosignatureSigner::sign(std::string_view text) const { return sign_at(text, clock_()); }

ErrorOr<Bytes> CosignatureSigner::sign_at(std::string_view text, std::uint64_t timestamp) const {
  if (timestamp > kMaxCosignatureTimestamp) return Error::invalid_argument("cosignature: timestamp above 2^63 - 1");
  // A witness vouches for checkpoints only; refuse to sign anything else.
  TRY(parse_checkpoint(text));
  Bytes signature = TRY(crypto::ed25519().sign(key_, as_bytes(cosignature_message(text, timestamp))));
  VERIFY(signature.size() == kEd25519SignatureSize);
  Bytes out;
  out.reserve(kCosignatureSize);
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(timestamp >> shift));
  append(out, signature);
  return out;
}

ErrorOr<WitnessPolicy> WitnessPolicy::create(std::vector<CosignatureVerifier> witnesses, std::size_t quorum) {
  if (quorum > witnesses.size()) return Error::invalid_argument("witness policy: quorum exceeds the number of witnesses");
  for (std::size_t i = 0; i < witnesses.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (witnesses[i].name() == witnesses[j].name() && witnesses[i].key_id() == witnesses[j].key_id()) {
        return Error::invalid_argument("witness policy: two witnesses share a key name and id");
      }
      if (to_bytes(witnesses[i].public_key()) == to_bytes(witnesses[j].public_key())) {
        return Error::invalid_argument("witness policy: two witnesses share a public key");
      }
    }
  }
  return WitnessPolicy(std::move(witnesses), quorum);
}

ErrorOr<WitnessedCheckpoint> open_witnessed_checkpoint(std::string_view note, std::string_view origin,
                                                       const NoteVerifier& log_key,
                                                       const WitnessPolicy& policy,
                                                       std::optional<std::uint64_t> now,
                                                       std::uint64_t max_future_seconds) {
  std::vector<const NoteVerifier*> verifiers = {&log_key};
  for (const CosignatureVerifier& witness : policy.witnesses()) verifiers.push_back(&witness);
  // open_note refuses the whole note if any signature by a known key fails.
  auto all = open_note(note, verifiers);
  if (!all) return all.error();
  if (std::find(all->verified_by.begin(), all->verified_by.end(), 0) == all->verified_by.end()) {
    return Error::crypto("checkpoint: not signed by the log key");
  }
  WitnessedCheckpoint result;
  result.checkpoint = TRY(parse_checkpoint(all->text));
  if (result.checkpoint.origin != origin) return Error::crypto("checkpoint: origin is not the expected log");
  std::vector<bool> counted(verifiers.size(), false);
  for (std::size_t i = 0; i < all->verified.size(); ++i) {
    std::size_t by = all->verified_by[i];
    if (by == 0 || counted[by]) continue;  // the log's own, or a witness already counted
    std::uint64_t timestamp = TRY(cosignature_timestamp(all->verified[i].signature));
    if (now && timestamp > *now && timestamp - *now > max_future_seconds) {
      return Error::crypto("cosignature: timestamp too far in the future");
    }
    counted[by] = true;
    result.cosignatures.push_back(WitnessCosignature{all->verified[i].name, timestamp});
  }
  if (result.cosignatures.size() < policy.quorum()) {
    return Error::crypto("witness policy: fewer cosignatures than the quorum");
  }
  result.note = all.release_value();
  return result;
}

}  // namespace pmos::tlog

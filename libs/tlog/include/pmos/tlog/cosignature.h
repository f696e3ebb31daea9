#pragma once

// Witness cosignatures, C2SP tlog-cosignature v1.0.1 (cosignature/v1): a note
// signature of type 0x04 whose 72 bytes are a big-endian uint64 POSIX
// timestamp followed by an Ed25519 signature over
//
//   "cosignature/v1\ntime <timestamp>\n" || <checkpoint note text>
//
// and the N-of-M witness policy a client applies to them.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pmos/base/error_or.h"
#include "pmos/crypto/keys.h"
#include "pmos/tlog/checkpoint.h"
#include "pmos/tlog/note.h"
#include "pmos/tlog/note_keys.h"

namespace pmos::tlog {

inline constexpr std::size_t kCosignatureSize = 72;  // u64 timestamp || 64-byte signature
inline constexpr std::uint64_t kMaxCosignatureTimestamp = (std::uint64_t{1} << 63) - 1;

// The message a cosignature/v1 signs for `text` at `timestamp`.
std::string cosignature_message(std::string_view text, std::uint64_t timestamp);
// The timestamp of a 72-byte cosignature (note signature without key id).
ErrorOr<std::uint64_t> cosignature_timestamp(BytesView signature);

// A witness's public key for cosignature/v1. Key id
// SHA-256(name || '\n' || 0x04 || public key)[:4]. Immutable; thread-safe.
class CosignatureVerifier final : public NoteVerifier {
 public:
  static ErrorOr<CosignatureVerifier> create(std::string_view name, BytesView public_key);
  // A vkey of type 0x04 (the spec's optional vkey form for witnesses).
  static ErrorOr<CosignatureVerifier> from_vkey(std::string_view vkey);

  std::string vkey() const;
  BytesView public_key() const { return key_.bytes(); }

  std::string_view name() const override { return name_; }
  std::uint32_t key_id() const override { return key_id_; }
  // Refuses a signature that is not exactly 72 bytes, a timestamp above
  // 2^63 - 1, and text that is not a checkpoint: cosignature/v1 is defined
  // over checkpoints only.
  ErrorOr<void> verify(std::string_view text, BytesView signature) const override;

 private:
  CosignatureVerifier(std::string name, std::uint32_t key_id, crypto::PublicKey key)
      : name_(std::move(name)), key_id_(key_id), key_(std::move(key)) {}
  std::string name_;
  std::uint32_t key_id_;
  crypto::PublicKey key_;
};

// The witness side: makes cosignatures with the witness's Ed25519 key.
// The clock is injected (tests replay time); the default reads the system
// clock. Immutable; thread-safe if the clock is.
class CosignatureSigner final : public NoteSigner {
 public:
  using Clock = std::function<std::uint64_t()>;  // POSIX seconds

  static ErrorOr<CosignatureSigner> generate(std::string_view name, Clock clock = {});
  // The seed of an Ed25519 key (for a witness that keeps its key as the
  // same 32 bytes an skey would hold).
  static ErrorOr<CosignatureSigner> from_seed(std::string_view name, BytesView seed, Clock clock = {});

  CosignatureVerifier verifier() const;

  std::string_view name() const override { return name_; }
  std::uint32_t key_id() const override { return key_id_; }
  // Cosigns checkpoint text at the clock's current time.
  ErrorOr<Bytes> sign(std::string_view text) const override;
  // Cosigns at an explicit time (at most 2^63 - 1).
  ErrorOr<Bytes> sign_at(std::string_view text, std::uint64_t timestamp) const;

 private:
  CosignatureSigner(std::string name, std::uint32_t key_id, crypto::PrivateKey key, Clock clock)
      : name_(std::move(name)), key_id_(key_id), key_(std::move(key)), clock_(std::move(clock)) {}
  std::string name_;
  std::uint32_t key_id_;
  crypto::PrivateKey key_;
  Clock clock_;
};

// Which witnesses a client trusts and how many of them must have cosigned
// a checkpoint. Immutable; thread-safe.
class WitnessPolicy {
 public:
  // Refuses a quorum above the number of witnesses, and two witnesses with
  // the same (name, key id) or the same public key: one key counting twice
  // would let a single witness stand in for two.
  static ErrorOr<WitnessPolicy> create(std::vector<CosignatureVerifier> witnesses, std::size_t quorum);

  std::span<const CosignatureVerifier> witnesses() const { return witnesses_; }
  std::size_t quorum() const { return quorum_; }

 private:
  WitnessPolicy(std::vector<CosignatureVerifier> witnesses, std::size_t quorum)
      : witnesses_(std::move(witnesses)), quorum_(quorum) {}
  std::vector<CosignatureVerifier> witnesses_;
  std::size_t quorum_;
};

struct WitnessCosignature {
  std::string witness;  // key name
  std::uint64_t timestamp = 0;
};

struct WitnessedCheckpoint {
  Checkpoint checkpoint;
  std::vector<WitnessCosignature> cosignatures;  // one per distinct witness
  OpenedNote note;
};

// open_checkpoint() plus the policy: the log key and at least
// policy.quorum() distinct witnesses must have signed, and any signature by
// a known key that fails refuses the whole checkpoint. If `now` is given,
// cosignatures timestamped more than `max_future_seconds` after it are
// refused (a witness clock far ahead is a misconfigured or lying witness).
ErrorOr<WitnessedCheckpoint> open_witnessed_checkpoint(std::string_view note, std::string_view origin,
                                                       const NoteVerifier& log_key,
                                                       const WitnessPolicy& policy,
                                                       std::optional<std::uint64_t> now = std::nullopt,
                                                       std::uint64_t max_future_seconds = 600);

}  // namespace pmos::tlog

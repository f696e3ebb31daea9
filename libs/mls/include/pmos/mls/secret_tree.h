#pragma once

// The secret tree (RFC 9420 §9): from an epoch's encryption_secret to a
// handshake and an application hash ratchet per leaf, and from the
// sender_data_secret to the keys that hide who sent a PrivateMessage.
//
// Forward secrecy is its job: a node's secret is deleted as soon as its
// children are derived, a ratchet secret as soon as the next one is, and a
// message key as soon as it is handed out. Keys skipped by out-of-order
// delivery are kept only within a bounded window.
//
// Move-only (all secrets are wiped on destruction). Not synchronised: one
// group state owns its tree.

#include <cstdint>
#include <map>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/codec.h"
#include "pmos/base/error_or.h"
#include "pmos/base/secret_bytes.h"
#include "pmos/crypto/cipher_suite.h"
#include "pmos/mls/tree_math.h"

namespace pmos::mls {

enum class RatchetType : std::uint8_t { kHandshake, kApplication };

struct SecretTreeLimits {
  // How many generations behind the newest a late message may be.
  std::uint32_t max_past_generations = 1000;
  // How far ahead of the next expected generation a message may be: bounds
  // the work (and memory) an attacker can make us do with one message.
  std::uint32_t max_future_generations = 1000;
};

struct MessageKey {
  std::uint32_t generation = 0;
  SecretBytes key;    // AEAD.Nk
  SecretBytes nonce;  // AEAD.Nn
};

class SecretTree {
 public:
  SecretTree(const crypto::CipherSuite& suite, LeafCount leaves, BytesView encryption_secret,
             SecretTreeLimits limits = {});

  SecretTree(SecretTree&&) = default;
  SecretTree& operator=(SecretTree&&) = default;

  // The key for our own next message on `leaf`'s ratchet; advances it.
  ErrorOr<MessageKey> next(LeafIndex leaf, RatchetType type);
  // The key of `generation` for a message received from `leaf`. Each key is
  // returned at most once: a second request (a replay) is an error, as is a
  // generation older than the window or too far ahead.
  ErrorOr<MessageKey> get(LeafIndex leaf, RatchetType type, std::uint32_t generation);

  LeafCount leaf_count() const { return leaves_; }

  // The tree's current secrets (node secrets not yet used, ratchet
  // positions, keys kept for late messages), for persisting a group state.
  // The output is secret: store it encrypted.
  void save(tls::Writer& w) const;
  static ErrorOr<SecretTree> load(const crypto::CipherSuite& suite, tls::Reader& r);

 private:
  struct Ratchet {
    bool started = false;
    SecretBytes secret;  // the ratchet secret of `next_generation`
    std::uint32_t next_generation = 0;
    std::map<std::uint32_t, MessageKey> skipped;  // out-of-order keys still allowed
  };

  ErrorOr<Ratchet*> ratchet(LeafIndex leaf, RatchetType type);
  ErrorOr<SecretBytes> leaf_secret(LeafIndex leaf);
  ErrorOr<MessageKey> derive_and_advance(Ratchet& r);

  crypto::CipherSuite suite_;
  LeafCount leaves_;
  SecretTreeLimits limits_;
  std::map<std::uint32_t, SecretBytes> node_secrets_;  // by NodeIndex; shrinks as leaves are used
  // Started ratchets only, by 2 * leaf + type: a new epoch costs nothing
  // per member until that member sends.
  std::map<std::uint32_t, Ratchet> ratchets_;
};

// Key and nonce that encrypt a PrivateMessage's SenderData (§6.3.2), from the
// first Nh bytes of the content ciphertext.
struct SenderDataKey {
  SecretBytes key;
  SecretBytes nonce;
};
ErrorOr<SenderDataKey> sender_data_key(const crypto::CipherSuite& suite, BytesView sender_data_secret,
                                       BytesView ciphertext);

}  // namespace pmos::mls

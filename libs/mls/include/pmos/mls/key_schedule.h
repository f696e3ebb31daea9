#pragma once

// The MLS key schedule (RFC 9420 §8): from the previous epoch's init secret,
// the commit secret, the PSK secret and the new GroupContext to every secret of
// the new epoch. Values only: an epoch's secrets are derived once and dropped
// with the epoch, never updated in place. Move-only (secrets are wiped on
// destruction); not synchronised.

#include <cstdint>
#include <span>
#include <string_view>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/base/secret_bytes.h"
#include "pmos/crypto/cipher_suite.h"

namespace pmos::mls {

struct EpochSecrets {
  SecretBytes joiner_secret;
  SecretBytes welcome_secret;
  SecretBytes sender_data_secret;
  SecretBytes encryption_secret;
  SecretBytes exporter_secret;
  SecretBytes external_secret;
  SecretBytes confirmation_key;
  SecretBytes membership_key;
  SecretBytes resumption_psk;
  SecretBytes epoch_authenticator;
  SecretBytes init_secret;  // the next epoch's init_secret

  // A member moving to a new epoch: joiner_secret = ExpandWithLabel(
  // Extract(init_secret, commit_secret), "joiner", GroupContext, Nh).
  // `group_context` is the new epoch's serialized GroupContext; an all-zero
  // commit or PSK secret (of length Nh) stands for "none".
  static ErrorOr<EpochSecrets> derive(const crypto::CipherSuite& suite, BytesView init_secret,
                                      BytesView commit_secret, BytesView psk_secret, BytesView group_context);
  // A new member joining from a Welcome, which carries the joiner secret.
  static ErrorOr<EpochSecrets> from_joiner(const crypto::CipherSuite& suite, BytesView joiner_secret,
                                           BytesView psk_secret, BytesView group_context);

  // The key pair whose public half is the external_pub extension (§8.3).
  ErrorOr<crypto::PrivateKey> external_key_pair(const crypto::CipherSuite& suite) const;

  // MLS-Exporter(label, context, length) (§8.5).
  ErrorOr<SecretBytes> export_secret(const crypto::CipherSuite& suite, std::string_view label,
                                     BytesView context, std::uint16_t length) const;
};

// The key and nonce that encrypt a Welcome's GroupInfo (§12.4.3.1).
struct WelcomeKey {
  SecretBytes key;
  SecretBytes nonce;
};
ErrorOr<WelcomeKey> welcome_key(const crypto::CipherSuite& suite, BytesView welcome_secret);
// welcome_secret = DeriveSecret(Extract(joiner_secret, psk_secret), "welcome"),
// for a joiner that needs the GroupInfo before it can build the GroupContext.
ErrorOr<SecretBytes> welcome_secret_from_joiner(const crypto::CipherSuite& suite, BytesView joiner_secret,
                                                BytesView psk_secret);

// One PSK of a commit, in the order the commit lists them: the serialized
// PreSharedKeyID and the PSK itself.
struct PskInput {
  BytesView encoded_id;
  BytesView psk;
};
// psk_secret (§8.4): Nh zero bytes when there are no PSKs.
ErrorOr<SecretBytes> psk_secret(const crypto::CipherSuite& suite, std::span<const PskInput> psks);

}  // namespace pmos::mls

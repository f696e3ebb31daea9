#pragma once

// Welcome (RFC 9420 §12.4.3.1): the message that lets new members join, and
// the secrets encrypted inside it. GroupSecrets and PathSecret hold secrets
// in SecretBytes, so they are move-only and wiped when destroyed. Not
// synchronised.

#include <compare>
#include <optional>
#include <tuple>
#include <vector>

#include "pmos/base/codec.h"
#include "pmos/base/secret_bytes.h"
#include "pmos/mls/proposal.h"
#include "pmos/mls/types.h"
#include "pmos/mls/update_path.h"

namespace pmos::mls {

struct PathSecret {
  SecretBytes path_secret;  // opaque<V>

  static auto tls_fields(auto& self) { return std::tie(self.path_secret); }
  friend bool operator==(const PathSecret&, const PathSecret&) = default;
};

// The HPKE plaintext of EncryptedGroupSecrets.
struct GroupSecrets {
  SecretBytes joiner_secret;  // opaque<V>
  std::optional<PathSecret> path_secret;
  std::vector<PreSharedKeyId> psks;

  static auto tls_fields(auto& self) { return std::tie(self.joiner_secret, self.path_secret, self.psks); }
  friend bool operator==(const GroupSecrets&, const GroupSecrets&) = default;
};

// GroupSecrets encrypted to the init key of the KeyPackage `new_member`.
struct EncryptedGroupSecrets {
  KeyPackageRef new_member;
  HpkeCiphertext encrypted_group_secrets;

  static auto tls_fields(auto& self) { return std::tie(self.new_member, self.encrypted_group_secrets); }
  friend bool operator==(const EncryptedGroupSecrets&, const EncryptedGroupSecrets&) = default;
};

struct Welcome {
  CipherSuiteId cipher_suite{};
  std::vector<EncryptedGroupSecrets> secrets;
  Bytes encrypted_group_info;  // opaque<V>

  static auto tls_fields(auto& self) {
    return std::tie(self.cipher_suite, self.secrets, self.encrypted_group_info);
  }
  friend bool operator==(const Welcome&, const Welcome&) = default;
};

}  // namespace pmos::mls

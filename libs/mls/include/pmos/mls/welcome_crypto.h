#pragma once

// Joining from a Welcome, the cryptographic half (RFC 9420 §12.4.3.1): find
// our EncryptedGroupSecrets by KeyPackageRef, HPKE-open the GroupSecrets,
// derive the welcome key, decrypt the GroupInfo and check its signature and
// confirmation tag. Building the group state from the result is the group
// state machine's job. Stateless functions.

#include <functional>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/crypto/cipher_suite.h"
#include "pmos/mls/group_info.h"
#include "pmos/mls/key_package.h"
#include "pmos/mls/welcome.h"

namespace pmos::mls {

// MakeKeyPackageRef (§5.2): RefHash("MLS 1.0 KeyPackage Reference", KeyPackage).
KeyPackageRef key_package_ref(const crypto::CipherSuite& suite, const KeyPackage& key_package);

// Resolves a PSK named in GroupSecrets; an error if we do not hold it.
using PskLookup = std::function<ErrorOr<SecretBytes>(const PreSharedKeyId&)>;

struct OpenedWelcome {
  GroupSecrets secrets;
  GroupInfo group_info;
  SecretBytes psk_secret;
};

// Opens `welcome` for the holder of `key_package` and its `init_key`. The
// GroupInfo's signature is NOT checked here (the signer's key is in the
// ratchet tree): call verify_group_info once the tree is known.
ErrorOr<OpenedWelcome> open_welcome(const crypto::CipherSuite& suite, const Welcome& welcome,
                                    const KeyPackage& key_package, const crypto::PrivateKey& init_key,
                                    const PskLookup& psks = {});

// SignWithLabel(., "GroupInfoTBS", GroupInfoTBS) by `signer`.
ErrorOr<Bytes> sign_group_info(const crypto::CipherSuite& suite, const GroupInfo& info,
                               const crypto::PrivateKey& signer);
ErrorOr<void> verify_group_info(const crypto::CipherSuite& suite, const GroupInfo& info,
                                const crypto::PublicKey& signer);

}  // namespace pmos::mls

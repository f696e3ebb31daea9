#include "pmos/mls/welcome_crypto.h"

#include <algorithm>
#include <vector>

#include "pmos/mls/key_schedule.h"

namespace pmos::mls {

KeyPackageRef key_package_ref(const crypto::CipherSuite& suite, const KeyPackage& key_package) {
  return suite.ref_hash("MLS 1.0 KeyPackage Reference", tls::encode(key_package));
}

ErrorOr<OpenedWelcome> open_welcome(const crypto::CipherSuite& suite, const Welcome& welcome,
                                    const KeyPackage& key_package, const crypto::PrivateKey& init_key,
                                    const PskLookup& psks) {
  if (static_cast<std::uint16_t>(welcome.cipher_suite) != suite.id())
    return Error::invalid_argument("Welcome uses another cipher suite");
  if (key_package.cipher_suite != welcome.cipher_suite)
    return Error::invalid_argument("Welcome and key package use different cipher suites");
  if (init_key.public_key().bytes().size() != key_package.init_key.size() ||
      !std::equal(key_package.init_key.begin(), key_package.init_key.end(),
                  init_key.public_key().bytes().begin()))
    return Error::invalid_argument("init key does not belong to this key package");

  KeyPackageRef ref = key_package_ref(suite, key_package);
  const EncryptedGroupSecrets* ours = nullptr;
  for (const auto& entry : welcome.secrets) {
    if (entry.new_member == ref) {
      ours = &entry;
      break;
    }
  }
  if (ours == nullptr) return Error::not_found("Welcome holds no group secrets for this key package");

  auto plain = suite.decrypt_with_label(init_key, "Welcome", welcome.encrypted_group_info,
                                        ours->encrypted_group_secrets.kem_output,
                                        ours->encrypted_group_secrets.ciphertext);
  if (!plain) return Error::crypto("Welcome group secrets do not decrypt with this key package's init key");
  OpenedWelcome opened;
  opened.secrets = TRY(tls::decode<GroupSecrets>(*plain));
  secure_zero(*plain);
  if (opened.secrets.joiner_secret.size() != suite.hash().size())
    return Error::decode("Welcome joiner secret is not Nh bytes long");

  std::vector<SecretBytes> keys;
  std::vector<Bytes> ids;
  for (const auto& id : opened.secrets.psks) {
    if (!psks) return Error::not_found("Welcome requires a pre-shared key this client does not hold");
    keys.push_back(TRY(psks(id)));
    ids.push_back(tls::encode(id));
  }
  std::vector<PskInput> inputs;
  for (std::size_t i = 0; i < ids.size(); ++i) inputs.push_back({ids[i], keys[i]});
  opened.psk_secret = TRY(psk_secret(suite, inputs));

  SecretBytes welcome_secret =
      TRY(welcome_secret_from_joiner(suite, opened.secrets.joiner_secret, opened.psk_secret));
  WelcomeKey key = TRY(welcome_key(suite, welcome_secret));
  auto info_bytes = suite.aead().open(key.key, key.nonce, {}, welcome.encrypted_group_info);
  if (!info_bytes) return Error::crypto("Welcome group info does not decrypt (tampered)");
  opened.group_info = TRY(tls::decode<GroupInfo>(*info_bytes));
  if (opened.group_info.group_context.cipher_suite != welcome.cipher_suite)
    return Error::decode("Welcome group info names another cipher suite");

  // The confirmation tag proves the GroupInfo belongs to the epoch the
  // joiner secret opens (§12.4.3.1).
  EpochSecrets epoch = TRY(EpochSecrets::from_joiner(suite, opened.secrets.joiner_secret, opened.psk_secret,
                                                     tls::encode(opened.group_info.group_context)));
  Bytes expected =
      suite.hash().hmac(epoch.confirmation_key, opened.group_info.group_context.confirmed_transcript_hash);
  // Constant time: the tag is a MAC under the epoch's confirmation key.
  if (!constant_time_equal(expected, opened.group_info.confirmation_tag))
    return Error::crypto("Welcome group info confirmation tag is wrong");
  return opened;
}

ErrorOr<Bytes> sign_group_info(const crypto::CipherSuite& suite, const GroupInfo& info,
                               const crypto::PrivateKey& signer) {
  return suite.sign_with_label(signer, "GroupInfoTBS", tls::encode(GroupInfoTbs::of(info)));
}

ErrorOr<void> verify_group_info(const crypto::CipherSuite& suite, const GroupInfo& info,
                                const crypto::PublicKey& signer) {
  if (!suite.verify_with_label(signer, "GroupInfoTBS", tls::encode(GroupInfoTbs::of(info)), info.signature))
    return Error::crypto("group info signature does not verify with the signer's key");
  return {};
}

}  // namespace pmos::mls

#include "pmos/mls/key_schedule.h"

#include "pmos/base/codec.h"

namespace pmos::mls {

namespace {

ErrorOr<EpochSecrets> from_member_secret(const crypto::CipherSuite& suite, SecretBytes joiner_secret,
                                         BytesView psk_secret, BytesView group_context) {
  std::uint16_t nh = static_cast<std::uint16_t>(suite.hash().size());
  if (psk_secret.size() != nh) return Error::invalid_argument("psk_secret is not Nh bytes long");
  // The "member" secret of §8: Extract(joiner_secret, psk_secret).
  SecretBytes member = suite.hash().extract(joiner_secret, psk_secret);
  EpochSecrets s;
  s.welcome_secret = TRY(suite.derive_secret(member, "welcome"));
  SecretBytes epoch_secret = TRY(suite.expand_with_label(member, "epoch", group_context, nh));
  s.sender_data_secret = TRY(suite.derive_secret(epoch_secret, "sender data"));
  s.encryption_secret = TRY(suite.derive_secret(epoch_secret, "encryption"));
  s.exporter_secret = TRY(suite.derive_secret(epoch_secret, "exporter"));
  s.external_secret = TRY(suite.derive_secret(epoch_secret, "external"));
  s.confirmation_key = TRY(suite.derive_secret(epoch_secret, "confirm"));
  s.membership_key = TRY(suite.derive_secret(epoch_secret, "membership"));
  s.resumption_psk = TRY(suite.derive_secret(epoch_secret, "resumption"));
  s.epoch_authenticator = TRY(suite.derive_secret(epoch_secret, "authentication"));
  s.init_secret = TRY(suite.derive_secret(epoch_secret, "init"));
  s.joiner_secret = std::move(joiner_secret);
  return s;
}

}  // namespace

ErrorOr<EpochSecrets> EpochSecrets::derive(const crypto::CipherSuite& suite, BytesView init_secret,
                                           BytesView commit_secret, BytesView psk_secret,
                                           BytesView group_context) {
  std::size_t nh = suite.hash().size();
  if (init_secret.size() != nh) return Error::invalid_argument("init_secret is not Nh bytes long");
  if (commit_secret.size() != nh) return Error::invalid_argument("commit_secret is not Nh bytes long");
  SecretBytes prk = suite.hash().extract(init_secret, commit_secret);
  SecretBytes joiner =
      TRY(suite.expand_with_label(prk, "joiner", group_context, static_cast<std::uint16_t>(nh)));
  return from_member_secret(suite, std::move(joiner), psk_secret, group_context);
}

ErrorOr<EpochSecrets> EpochSecrets::from_joiner(const crypto::CipherSuite& suite, BytesView joiner_secret,
                                                BytesView psk_secret, BytesView group_context) {
  if (joiner_secret.size() != suite.hash().size())
    return Error::invalid_argument("joiner_secret is not Nh bytes long");
  return from_member_secret(suite, SecretBytes::copy_of(joiner_secret), psk_secret, group_context);
}

ErrorOr<crypto::PrivateKey> EpochSecrets::external_key_pair(const crypto::CipherSuite& suite) const {
  return suite.kem().derive_key_pair(external_secret);
}

ErrorOr<SecretBytes> EpochSecrets::export_secret(const crypto::CipherSuite& suite, std::string_view label,
                                                 BytesView context, std::uint16_t length) const {
  SecretBytes derived = TRY(suite.derive_secret(exporter_secret, label));
  return suite.expand_with_label(derived, "exported", suite.hash().digest(context), length);
}

ErrorOr<WelcomeKey> welcome_key(const crypto::CipherSuite& suite, BytesView welcome_secret) {
  WelcomeKey out;
  out.key = TRY(suite.expand_with_label(welcome_secret, "key", {},
                                        static_cast<std::uint16_t>(suite.aead().key_size())));
  out.nonce = TRY(suite.expand_with_label(welcome_secret, "nonce", {},
                                          static_cast<std::uint16_t>(suite.aead().nonce_size())));
  return out;
}

ErrorOr<SecretBytes> welcome_secret_from_joiner(const crypto::CipherSuite& suite, BytesView joiner_secret,
                                                BytesView psk_secret) {
  SecretBytes member = suite.hash().extract(joiner_secret, psk_secret);
  return suite.derive_secret(member, "welcome");
}

ErrorOr<SecretBytes> psk_secret(const crypto::CipherSuite& suite, std::span<const PskInput> psks) {
  std::size_t nh = suite.hash().size();
  if (psks.size() > 0xffff) return Error::invalid_argument("more than 65535 PSKs in one commit");
  SecretBytes secret(nh);  // psk_secret_[0] = 0
  for (std::size_t i = 0; i < psks.size(); ++i) {
    // PSKLabel { PreSharedKeyID id; uint16 index; uint16 count; }
    tls::Writer label;
    label.raw(psks[i].encoded_id);
    label.u16(static_cast<std::uint16_t>(i));
    label.u16(static_cast<std::uint16_t>(psks.size()));
    SecretBytes extracted = suite.hash().extract({}, psks[i].psk);
    SecretBytes input =
        TRY(suite.expand_with_label(extracted, "derived psk", label.view(), static_cast<std::uint16_t>(nh)));
    // psk_secret_[i+1] = Extract(psk_input_[i], psk_secret_[i])
    secret = suite.hash().extract(input, secret);
  }
  return secret;
}

}  // namespace pmos::mls

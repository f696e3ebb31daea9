#include "pmos/crypto/hpke.h"

#include <algorithm>

#include "labeled_kdf.h"
#include "pmos/base/check.h"

namespace pmos::crypto {

namespace {

Bytes hpke_suite_id(std::uint16_t kem, std::uint16_t kdf, std::uint16_t aead) {
  return {'H', 'P', 'K', 'E',
          static_cast<std::uint8_t>(kem >> 8), static_cast<std::uint8_t>(kem),
          static_cast<std::uint8_t>(kdf >> 8), static_cast<std::uint8_t>(kdf),
          static_cast<std::uint8_t>(aead >> 8), static_cast<std::uint8_t>(aead)};
}

HpkeMode mode_of(bool psk, bool auth) {
  return static_cast<HpkeMode>((psk ? 1 : 0) | (auth ? 2 : 0));
}

// VerifyPSKInputs (RFC 9180 §5.1): a PSK and its id come together or not at
// all. A short PSK is refused outright: §9.5 wants at least 32 bytes of
// entropy and a low-entropy PSK is open to offline guessing.
ErrorOr<void> verify_psk_inputs(BytesView psk, BytesView psk_id) {
  if (psk.empty() != psk_id.empty()) return Error::invalid_argument("HPKE PSK and PSK id must be given together");
  if (!psk.empty() && psk.size() < 32) return Error::invalid_argument("HPKE PSK is shorter than 32 bytes");
  return {};
}

}  // namespace

HpkeContext::HpkeContext(Role role, const Hash& kdf, const Aead* aead, Bytes suite_id, SecretBytes key,
                         SecretBytes base_nonce, SecretBytes exporter_secret)
    : role_(role), kdf_(&kdf), aead_(aead), suite_id_(std::move(suite_id)), key_(std::move(key)),
      base_nonce_(std::move(base_nonce)), exporter_secret_(std::move(exporter_secret)) {}

ErrorOr<void> HpkeContext::next_nonce(MutableBytesView nonce) {
  // ComputeNonce(seq) = base_nonce XOR I2OSP(seq, Nn). The sequence number is
  // 64 bits (< 2^(8*Nn) for every AEAD here); reuse would be catastrophic, so
  // exhaustion is an error, not a wrap.
  if (sequence_ == UINT64_MAX) return Error::crypto("HPKE context sequence number exhausted");
  std::copy_n(base_nonce_.data(), nonce.size(), nonce.data());
  for (std::size_t i = 0; i < 8; ++i) nonce[nonce.size() - 1 - i] ^= static_cast<std::uint8_t>(sequence_ >> (8 * i));
  return {};
}

ErrorOr<Bytes> HpkeContext::seal(BytesView aad, BytesView plaintext) {
  if (aead_ == nullptr) return Error::invalid_argument("HPKE export-only context cannot seal");
  if (role_ != Role::kSender) return Error::invalid_argument("HPKE receiver context cannot seal");
  std::uint8_t nonce[32];
  MutableBytesView nonce_view(nonce, aead_->nonce_size());
  TRY(next_nonce(nonce_view));
  Bytes out = TRY(aead_->seal(key_, nonce_view, aad, plaintext));
  ++sequence_;
  return out;
}

ErrorOr<Bytes> HpkeContext::open(BytesView aad, BytesView ciphertext) {
  if (aead_ == nullptr) return Error::invalid_argument("HPKE export-only context cannot open");
  if (role_ != Role::kReceiver) return Error::invalid_argument("HPKE sender context cannot open");
  std::uint8_t nonce[32];
  MutableBytesView nonce_view(nonce, aead_->nonce_size());
  TRY(next_nonce(nonce_view));
  // The sequence number advances only on success, so a forged message does
  // not desynchronise the context.
  Bytes out = TRY(aead_->open(key_, nonce_view, aad, ciphertext));
  ++sequence_;
  return out;
}

ErrorOr<SecretBytes> HpkeContext::export_secret(BytesView exporter_context, std::size_t length) const {
  return detail::labeled_expand(*kdf_, suite_id_, exporter_secret_, "sec", exporter_context, length);
}

Hpke::Hpke(const Kem& kem, const Hash& kdf, const Aead* aead)
    : kem_(&kem), kdf_(&kdf), aead_(aead),
      suite_id_(hpke_suite_id(kem.id(), kdf.kdf_id(),
                              aead ? aead->id() : static_cast<std::uint16_t>(AeadId::kExportOnly))) {}

ErrorOr<Hpke> Hpke::create(std::uint16_t kem_id, std::uint16_t kdf_id, std::uint16_t aead_id) {
  const Kem* kem = TRY(kem_for_id(kem_id));
  const Hash* kdf = TRY(hash_for_kdf(kdf_id));
  const Aead* aead = nullptr;
  if (aead_id != static_cast<std::uint16_t>(AeadId::kExportOnly)) aead = TRY(aead_for_id(aead_id));
  return Hpke(*kem, *kdf, aead);
}

ErrorOr<HpkeContext> Hpke::key_schedule(HpkeContext::Role role, HpkeMode mode, BytesView shared_secret,
                                        BytesView info, BytesView psk, BytesView psk_id) const {
  TRY(verify_psk_inputs(psk, psk_id));
  SecretBytes psk_id_hash = detail::labeled_extract(*kdf_, suite_id_, {}, "psk_id_hash", psk_id);
  SecretBytes info_hash = detail::labeled_extract(*kdf_, suite_id_, {}, "info_hash", info);
  Bytes context;
  context.reserve(1 + 2 * kdf_->size());
  context.push_back(static_cast<std::uint8_t>(mode));
  append(context, psk_id_hash);
  append(context, info_hash);

  SecretBytes secret = detail::labeled_extract(*kdf_, suite_id_, shared_secret, "secret", psk);
  SecretBytes key, base_nonce;
  if (aead_ != nullptr) {
    key = TRY(detail::labeled_expand(*kdf_, suite_id_, secret, "key", context, aead_->key_size()));
    base_nonce = TRY(detail::labeled_expand(*kdf_, suite_id_, secret, "base_nonce", context, aead_->nonce_size()));
  }
  SecretBytes exporter = TRY(detail::labeled_expand(*kdf_, suite_id_, secret, "exp", context, kdf_->size()));
  return HpkeContext(role, *kdf_, aead_, suite_id_, std::move(key), std::move(base_nonce), std::move(exporter));
}

ErrorOr<Hpke::Sender> Hpke::setup_sender(const PublicKey& recipient, BytesView info,
                                         const HpkeSenderOptions& options) const {
  bool auth = options.sender_key != nullptr;
  Kem::Encapsulation encapsulation =
      auth ? TRY(kem_->auth_encap(recipient, *options.sender_key, options.ephemeral_key))
           : TRY(kem_->encap(recipient, options.ephemeral_key));
  HpkeContext context = TRY(key_schedule(HpkeContext::Role::kSender, mode_of(!options.psk.empty(), auth),
                                         encapsulation.shared_secret, info, options.psk, options.psk_id));
  return Sender{std::move(encapsulation.enc), std::move(context)};
}

ErrorOr<HpkeContext> Hpke::setup_receiver(BytesView enc, const PrivateKey& recipient, BytesView info,
                                          const HpkeReceiverOptions& options) const {
  bool auth = options.sender_key != nullptr;
  SecretBytes shared = auth ? TRY(kem_->auth_decap(enc, recipient, *options.sender_key))
                            : TRY(kem_->decap(enc, recipient));
  return key_schedule(HpkeContext::Role::kReceiver, mode_of(!options.psk.empty(), auth), shared, info,
                      options.psk, options.psk_id);
}

ErrorOr<Hpke::Sealed> Hpke::seal(const PublicKey& recipient, BytesView info, BytesView aad,
                                 BytesView plaintext, const HpkeSenderOptions& options) const {
  Sender sender = TRY(setup_sender(recipient, info, options));
  Bytes ciphertext = TRY(sender.context.seal(aad, plaintext));
  return Sealed{std::move(sender.enc), std::move(ciphertext)};
}

ErrorOr<Bytes> Hpke::open(BytesView enc, const PrivateKey& recipient, BytesView info, BytesView aad,
                          BytesView ciphertext, const HpkeReceiverOptions& options) const {
  HpkeContext context = TRY(setup_receiver(enc, recipient, info, options));
  return context.open(aad, ciphertext);
}

ErrorOr<Hpke::SenderExport> Hpke::send_export(const PublicKey& recipient, BytesView info,
                                              BytesView exporter_context, std::size_t length,
                                              const HpkeSenderOptions& options) const {
  Sender sender = TRY(setup_sender(recipient, info, options));
  SecretBytes secret = TRY(sender.context.export_secret(exporter_context, length));
  return SenderExport{std::move(sender.enc), std::move(secret)};
}

ErrorOr<SecretBytes> Hpke::receive_export(BytesView enc, const PrivateKey& recipient, BytesView info,
                                          BytesView exporter_context, std::size_t length,
                                          const HpkeReceiverOptions& options) const {
  HpkeContext context = TRY(setup_receiver(enc, recipient, info, options));
  return context.export_secret(exporter_context, length);
}

}  // namespace pmos::crypto

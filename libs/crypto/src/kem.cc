#include "pmos/crypto/kem.h"

#include <algorithm>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "evp_keys.h"
#include "key_access.h"
#include "labeled_kdf.h"
#include "pmos/base/check.h"
#include "pmos/crypto/hash.h"
#include "sm2_curve.h"

namespace pmos::crypto {

namespace {

// The Diffie-Hellman group under a DHKEM. New groups (the SM2 curve) add a
// subclass here; nothing outside this file sees it.
class DhGroup {
 public:
  virtual ~DhGroup() = default;
  virtual std::size_t public_key_size() const = 0;
  virtual std::size_t private_key_size() const = 0;
  // RFC 9180 §7.1.3: 0 for the X-curves ("sk" expanded once), else the mask
  // applied to the first byte of each rejection-sampling candidate.
  virtual std::uint8_t derive_bitmask() const = 0;
  virtual ErrorOr<PrivateKey> generate() const = 0;
  virtual ErrorOr<PrivateKey> private_key(BytesView encoded) const = 0;
  virtual ErrorOr<PublicKey> public_key(BytesView encoded) const = 0;

  // DH(sk, pk): the shared secret of RFC 9180 §4.1 (x-coordinate for the
  // prime curves). Keys of another group are an error.
  virtual ErrorOr<SecretBytes> dh(const PrivateKey& sk, const PublicKey& pk) const = 0;
};

// Groups whose keys are EVP_PKEYs (EvpKeyMaterial).
class EvpDhGroup : public DhGroup {
 public:
  // DH(sk, pk) with OpenSSL's derive, which also validates the peer key and,
  // for X25519/X448, rejects the all-zero output of small-order points.
  ErrorOr<SecretBytes> dh(const PrivateKey& sk, const PublicKey& pk) const final {
    EVP_PKEY* own = detail::evp_key_of(sk, this);
    EVP_PKEY* peer = detail::evp_key_of(pk, this);
    if (own == nullptr || peer == nullptr) return Error::invalid_argument("KEM key is empty or of another group");
    EvpPkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own, nullptr));
    VERIFY(ctx != nullptr);
    std::size_t length = 0;
    if (EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer) != 1 ||
        EVP_PKEY_derive(ctx.get(), nullptr, &length) != 1)
      return Error::crypto("Diffie-Hellman with this public key failed");
    SecretBytes shared(length);
    if (EVP_PKEY_derive(ctx.get(), shared.data(), &length) != 1 || length != shared.size())
      return Error::crypto("Diffie-Hellman with this public key failed");
    return shared;
  }
};

class RawDhGroup final : public EvpDhGroup {
 public:
  explicit RawDhGroup(detail::RawKeyType type) : type_(type) {}
  std::size_t public_key_size() const override { return type_.public_size; }
  std::size_t private_key_size() const override { return type_.private_size; }
  std::uint8_t derive_bitmask() const override { return 0; }
  ErrorOr<PrivateKey> generate() const override { return detail::raw_generate(type_, this); }
  ErrorOr<PrivateKey> private_key(BytesView encoded) const override {
    return detail::raw_private_key(type_, this, encoded);
  }
  ErrorOr<PublicKey> public_key(BytesView encoded) const override {
    return detail::raw_public_key(type_, this, encoded);
  }

 private:
  detail::RawKeyType type_;
};

class EcDhGroup final : public EvpDhGroup {
 public:
  EcDhGroup(const char* group, int nid, std::size_t scalar_size, std::uint8_t bitmask)
      : curve_(group, nid, scalar_size), bitmask_(bitmask) {}
  std::size_t public_key_size() const override { return curve_.point_size; }
  std::size_t private_key_size() const override { return curve_.scalar_size; }
  std::uint8_t derive_bitmask() const override { return bitmask_; }
  ErrorOr<PrivateKey> generate() const override { return detail::ec_generate(curve_, this); }
  ErrorOr<PrivateKey> private_key(BytesView encoded) const override {
    return detail::ec_private_key(curve_, this, encoded);
  }
  ErrorOr<PublicKey> public_key(BytesView encoded) const override {
    return detail::ec_public_key(curve_, this, encoded);
  }

 private:
  detail::EcCurve curve_;
  std::uint8_t bitmask_;
};

// The SM2 curve sm2p256v1 with the P-256 conventions of RFC 9180: 65-byte
// uncompressed points, 32-byte scalars, DH = x-coordinate of sk * pk, and
// DeriveKeyPair by rejection sampling with bitmask 0xff (§7.1.3; the order n
// is just below 2^256 as for P-256). OpenSSL 3.0 cannot derive on this curve
// through EVP (sm2_curve.h says why), so the keys are points and scalars.
class Sm2DhGroup final : public DhGroup {
 public:
  std::size_t public_key_size() const override { return detail::Sm2Curve::kPointSize; }
  std::size_t private_key_size() const override { return detail::Sm2Curve::kScalarSize; }
  std::uint8_t derive_bitmask() const override { return 0xff; }
  ErrorOr<PrivateKey> generate() const override { return detail::sm2_dh_generate(this); }
  ErrorOr<PrivateKey> private_key(BytesView encoded) const override {
    return detail::sm2_dh_private_key(this, encoded);
  }
  ErrorOr<PublicKey> public_key(BytesView encoded) const override {
    return detail::sm2_dh_public_key(this, encoded);
  }
  ErrorOr<SecretBytes> dh(const PrivateKey& sk, const PublicKey& pk) const override {
    const auto* own = detail::material_of<detail::Sm2PointKeyMaterial>(sk, this);
    const auto* peer = detail::material_of<detail::Sm2PointKeyMaterial>(pk, this);
    if (own == nullptr || peer == nullptr || own->scalar() == nullptr)
      return Error::invalid_argument("KEM key is empty or of another group");
    // The peer point was validated when it was decoded (on the curve, not
    // infinity); dh_x refuses an infinite product and a zero x.
    return detail::Sm2Curve::get().dh_x(own->scalar(), peer->point());
  }
};

// DHKEM(Group, KDF) of RFC 9180 §4.1.
class DhKem final : public Kem {
 public:
  DhKem(KemId id, std::string_view name, const DhGroup& group, const Hash& kdf)
      : id_(id), name_(name), group_(group), kdf_(kdf),
        suite_id_{'K', 'E', 'M', static_cast<std::uint8_t>(static_cast<std::uint16_t>(id) >> 8),
                  static_cast<std::uint8_t>(static_cast<std::uint16_t>(id))} {}

  std::uint16_t id() const override { return static_cast<std::uint16_t>(id_); }
  std::string_view name() const override { return name_; }
  std::size_t shared_secret_size() const override { return kdf_.size(); }
  std::size_t enc_size() const override { return group_.public_key_size(); }
  std::size_t public_key_size() const override { return group_.public_key_size(); }
  std::size_t private_key_size() const override { return group_.private_key_size(); }

  ErrorOr<PrivateKey> generate() const override { return group_.generate(); }
  ErrorOr<PrivateKey> private_key(BytesView encoded) const override { return group_.private_key(encoded); }
  ErrorOr<PublicKey> public_key(BytesView encoded) const override { return group_.public_key(encoded); }

  ErrorOr<PrivateKey> derive_key_pair(BytesView ikm) const override {
    SecretBytes dkp_prk = detail::labeled_extract(kdf_, suite_id_, {}, "dkp_prk", ikm);
    std::uint8_t bitmask = group_.derive_bitmask();
    if (bitmask == 0) {
      SecretBytes sk = TRY(detail::labeled_expand(kdf_, suite_id_, dkp_prk, "sk", {}, private_key_size()));
      return group_.private_key(sk);
    }
    // Rejection sampling: retry until the candidate is a valid scalar.
    for (unsigned counter = 0; counter <= 255; ++counter) {
      std::uint8_t counter_byte = static_cast<std::uint8_t>(counter);
      SecretBytes candidate = TRY(detail::labeled_expand(kdf_, suite_id_, dkp_prk, "candidate",
                                                         BytesView(&counter_byte, 1), private_key_size()));
      candidate.data()[0] &= bitmask;
      auto key = group_.private_key(candidate);
      if (key.has_value()) return key;
      if (std::string_view(key.error().message()) != detail::kScalarOutOfRange) return key.error();
    }
    return Error::crypto("DeriveKeyPair found no valid scalar in 256 candidates");
  }

  ErrorOr<Encapsulation> encap(const PublicKey& recipient, const PrivateKey* ephemeral) const override {
    PrivateKey generated;
    if (ephemeral == nullptr) generated = TRY(generate());
    const PrivateKey& sk_e = ephemeral ? *ephemeral : generated;
    SecretBytes dh = TRY(group_.dh(sk_e, recipient));
    Bytes enc = to_bytes(sk_e.public_key().bytes());
    SecretBytes shared = TRY(extract_and_expand(dh, {enc, recipient.bytes()}));
    return Encapsulation{std::move(shared), std::move(enc)};
  }

  ErrorOr<SecretBytes> decap(BytesView enc, const PrivateKey& recipient) const override {
    PublicKey pk_e = TRY(group_.public_key(enc));
    SecretBytes dh = TRY(group_.dh(recipient, pk_e));
    return extract_and_expand(dh, {enc, recipient.public_key().bytes()});
  }

  ErrorOr<Encapsulation> auth_encap(const PublicKey& recipient, const PrivateKey& sender,
                                    const PrivateKey* ephemeral) const override {
    PrivateKey generated;
    if (ephemeral == nullptr) generated = TRY(generate());
    const PrivateKey& sk_e = ephemeral ? *ephemeral : generated;
    SecretBytes dh = TRY(concat_dh(sk_e, recipient, sender, recipient));
    Bytes enc = to_bytes(sk_e.public_key().bytes());
    SecretBytes shared =
        TRY(extract_and_expand(dh, {enc, recipient.bytes(), sender.public_key().bytes()}));
    return Encapsulation{std::move(shared), std::move(enc)};
  }

  ErrorOr<SecretBytes> auth_decap(BytesView enc, const PrivateKey& recipient,
                                  const PublicKey& sender) const override {
    PublicKey pk_e = TRY(group_.public_key(enc));
    SecretBytes dh = TRY(concat_dh(recipient, pk_e, recipient, sender));
    return extract_and_expand(dh, {enc, recipient.public_key().bytes(), sender.bytes()});
  }

 private:
  // DH(a_sk, a_pk) || DH(b_sk, b_pk)
  ErrorOr<SecretBytes> concat_dh(const PrivateKey& a_sk, const PublicKey& a_pk,
                                 const PrivateKey& b_sk, const PublicKey& b_pk) const {
    SecretBytes first = TRY(group_.dh(a_sk, a_pk));
    SecretBytes second = TRY(group_.dh(b_sk, b_pk));
    SecretBytes both(first.size() + second.size());
    std::copy_n(first.data(), first.size(), both.data());
    std::copy_n(second.data(), second.size(), both.data() + first.size());
    return both;
  }

  ErrorOr<SecretBytes> extract_and_expand(BytesView dh, std::initializer_list<BytesView> context) const {
    Bytes kem_context;
    for (BytesView part : context) append(kem_context, part);
    SecretBytes eae_prk = detail::labeled_extract(kdf_, suite_id_, {}, "eae_prk", dh);
    return detail::labeled_expand(kdf_, suite_id_, eae_prk, "shared_secret", kem_context,
                                  shared_secret_size());
  }

  KemId id_;
  std::string_view name_;
  const DhGroup& group_;
  const Hash& kdf_;
  Bytes suite_id_;  // "KEM" || I2OSP(kem_id, 2)
};

const DhGroup& x25519_group() {
  static const RawDhGroup group({"X25519", 32, 32});
  return group;
}
const DhGroup& x448_group() {
  static const RawDhGroup group({"X448", 56, 56});
  return group;
}

}  // namespace

const Kem& dhkem_p256() {
  static const EcDhGroup group("P-256", NID_X9_62_prime256v1, 32, 0xff);
  static const DhKem kem(KemId::kDhkemP256Sha256, "DHKEM(P-256, HKDF-SHA256)", group, sha256());
  return kem;
}
const Kem& dhkem_p384() {
  static const EcDhGroup group("P-384", NID_secp384r1, 48, 0xff);
  static const DhKem kem(KemId::kDhkemP384Sha384, "DHKEM(P-384, HKDF-SHA384)", group, sha384());
  return kem;
}
const Kem& dhkem_p521() {
  static const EcDhGroup group("P-521", NID_secp521r1, 66, 0x01);
  static const DhKem kem(KemId::kDhkemP521Sha512, "DHKEM(P-521, HKDF-SHA512)", group, sha512());
  return kem;
}
const Kem& dhkem_x25519() {
  static const DhKem kem(KemId::kDhkemX25519Sha256, "DHKEM(X25519, HKDF-SHA256)", x25519_group(), sha256());
  return kem;
}
const Kem& dhkem_x448() {
  static const DhKem kem(KemId::kDhkemX448Sha512, "DHKEM(X448, HKDF-SHA512)", x448_group(), sha512());
  return kem;
}

const Kem& dhkem_sm2() {
  static const Sm2DhGroup group;
  static const DhKem kem(KemId::kDhkemSm2Sm3, "DHKEM(SM2, HKDF-SM3)", group, sm3());
  return kem;
}

ErrorOr<const Kem*> kem_for_id(std::uint16_t id) {
  switch (static_cast<KemId>(id)) {
    case KemId::kDhkemP256Sha256: return &dhkem_p256();
    case KemId::kDhkemP384Sha384: return &dhkem_p384();
    case KemId::kDhkemP521Sha512: return &dhkem_p521();
    case KemId::kDhkemX25519Sha256: return &dhkem_x25519();
    case KemId::kDhkemX448Sha512: return &dhkem_x448();
    case KemId::kDhkemSm2Sm3: return &dhkem_sm2();
  }
  return Error::unsupported("unknown KEM id");
}

}  // namespace pmos::crypto

#include "pmos/crypto/cipher_suite.h"

#include <array>
#include <mutex>
#include <optional>

#include "pmos/base/codec.h"

namespace pmos::crypto {

namespace detail {

struct SuiteEntry {
  CipherSuiteId id;
  std::string_view name;
  const Hash& (*hash)();
  const Aead& (*aead)();
  const Kem& (*kem)();
  const SignatureScheme& (*signature)();
};

}  // namespace detail

namespace {

// The registry: one line per suite. A new suite is a new line here.
constexpr std::array<detail::SuiteEntry, 8> kSuites = {{
    {CipherSuiteId::kMls128Dhkemx25519Aes128gcmSha256Ed25519, "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
     sha256, aes128_gcm, dhkem_x25519, ed25519},
    {CipherSuiteId::kMls128Dhkemp256Aes128gcmSha256P256, "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
     sha256, aes128_gcm, dhkem_p256, ecdsa_p256_sha256},
    {CipherSuiteId::kMls128Dhkemx25519Chacha20poly1305Sha256Ed25519,
     "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519", sha256, chacha20_poly1305, dhkem_x25519, ed25519},
    {CipherSuiteId::kMls256Dhkemx448Aes256gcmSha512Ed448, "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448",
     sha512, aes256_gcm, dhkem_x448, ed448},
    {CipherSuiteId::kMls256Dhkemp521Aes256gcmSha512P521, "MLS_256_DHKEMP521_AES256GCM_SHA512_P521",
     sha512, aes256_gcm, dhkem_p521, ecdsa_p521_sha512},
    {CipherSuiteId::kMls256Dhkemx448Chacha20poly1305Sha512Ed448, "MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448",
     sha512, chacha20_poly1305, dhkem_x448, ed448},
    {CipherSuiteId::kMls256Dhkemp384Aes256gcmSha384P384, "MLS_256_DHKEMP384_AES256GCM_SHA384_P384",
     sha384, aes256_gcm, dhkem_p384, ecdsa_p384_sha384},
    // Private use (RFC 9420 §17.1): the national suite of issue 9, defined
    // in docs/formats/national-suite.md.
    {CipherSuiteId::kMls128DhkemSm2Sm4gcmSm3Sm2, "MLS_128_DHKEMSM2_SM4GCM_SM3_SM2",
     sm3, sm4_gcm, dhkem_sm2, sm2_sm3},
}};

constexpr bool is_private_use(CipherSuiteId id) { return static_cast<std::uint16_t>(id) >= 0xF000; }

// One Hpke per suite, built on first use of that suite, so that a process
// using only the RFC 9420 suites never builds the national suite's
// algorithms (nor needs SM3 from its OpenSSL).
const Hpke& hpke_of(const detail::SuiteEntry& entry) {
  static std::array<std::optional<Hpke>, kSuites.size()> instances;
  static std::array<std::once_flag, kSuites.size()> built;
  auto index = static_cast<std::size_t>(&entry - kSuites.data());
  std::call_once(built[index], [&] { instances[index].emplace(entry.kem(), entry.hash(), &entry.aead()); });
  return *instances[index];
}

// "MLS 1.0 " + label, the prefix of every labelled operation (§5.1.2, §8).
Bytes mls_label(std::string_view label) {
  static constexpr std::string_view kPrefix = "MLS 1.0 ";
  Bytes out;
  out.reserve(kPrefix.size() + label.size());
  append(out, as_bytes(kPrefix));
  append(out, as_bytes(label));
  return out;
}

// struct { opaque label<V>; opaque content<V>; } — the shape of SignContent,
// EncryptContext and RefHashInput.
Bytes label_and_content(BytesView label, BytesView content) {
  tls::Writer w(label.size() + content.size() + 8);
  w.opaque(label);
  w.opaque(content);
  return std::move(w).take();
}

}  // namespace

ErrorOr<CipherSuite> CipherSuite::from_id(std::uint16_t id) {
  for (const auto& entry : kSuites) {
    if (static_cast<std::uint16_t>(entry.id) == id) return CipherSuite(&entry);
  }
  return Error::unsupported("unknown or unsupported MLS cipher suite");
}

std::vector<std::uint16_t> CipherSuite::supported_ids() {
  std::vector<std::uint16_t> ids;
  for (const auto& entry : kSuites) {
    if (!is_private_use(entry.id)) ids.push_back(static_cast<std::uint16_t>(entry.id));
  }
  return ids;
}

std::vector<std::uint16_t> CipherSuite::private_use_ids() {
  std::vector<std::uint16_t> ids;
  for (const auto& entry : kSuites) {
    if (is_private_use(entry.id)) ids.push_back(static_cast<std::uint16_t>(entry.id));
  }
  return ids;
}

std::uint16_t CipherSuite::id() const { return static_cast<std::uint16_t>(entry_->id); }
std::string_view CipherSuite::name() const { return entry_->name; }
const Hash& CipherSuite::hash() const { return entry_->hash(); }
const Aead& CipherSuite::aead() const { return entry_->aead(); }
const Kem& CipherSuite::kem() const { return entry_->kem(); }
const Hpke& CipherSuite::hpke() const { return hpke_of(*entry_); }
const SignatureScheme& CipherSuite::signature() const { return entry_->signature(); }

Bytes CipherSuite::ref_hash(std::string_view label, BytesView value) const {
  return hash().digest(label_and_content(as_bytes(label), value));
}

ErrorOr<SecretBytes> CipherSuite::expand_with_label(BytesView secret, std::string_view label,
                                                    BytesView context, std::uint16_t length) const {
  // KDFLabel { uint16 length; opaque label<V>; opaque context<V>; }
  Bytes full_label = mls_label(label);
  tls::Writer w(2 + full_label.size() + context.size() + 8);
  w.u16(length);
  w.opaque(full_label);
  w.opaque(context);
  return hash().expand(secret, w.view(), length);
}

ErrorOr<SecretBytes> CipherSuite::derive_secret(BytesView secret, std::string_view label) const {
  return expand_with_label(secret, label, {}, static_cast<std::uint16_t>(hash().size()));
}

ErrorOr<SecretBytes> CipherSuite::derive_tree_secret(BytesView secret, std::string_view label,
                                                     std::uint32_t generation, std::uint16_t length) const {
  std::uint8_t context[4] = {static_cast<std::uint8_t>(generation >> 24), static_cast<std::uint8_t>(generation >> 16),
                             static_cast<std::uint8_t>(generation >> 8), static_cast<std::uint8_t>(generation)};
  return expand_with_label(secret, label, context, length);
}

ErrorOr<Bytes> CipherSuite::sign_with_label(const PrivateKey& key, std::string_view label,
                                            BytesView content) const {
  return signature().sign(key, label_and_content(mls_label(label), content));
}

ErrorOr<void> CipherSuite::verify_with_label(const PublicKey& key, std::string_view label,
                                             BytesView content, BytesView signature_bytes) const {
  return signature().verify(key, label_and_content(mls_label(label), content), signature_bytes);
}

ErrorOr<HpkeCiphertext> CipherSuite::encrypt_with_label(const PublicKey& key, std::string_view label,
                                                        BytesView context, BytesView plaintext) const {
  Bytes info = label_and_content(mls_label(label), context);
  Hpke::Sealed sealed = TRY(hpke().seal(key, info, {}, plaintext));
  return HpkeCiphertext{std::move(sealed.enc), std::move(sealed.ciphertext)};
}

ErrorOr<Bytes> CipherSuite::decrypt_with_label(const PrivateKey& key, std::string_view label,
                                               BytesView context, BytesView kem_output,
                                               BytesView ciphertext) const {
  Bytes info = label_and_content(mls_label(label), context);
  return hpke().open(kem_output, key, info, {}, ciphertext);
}

}  // namespace pmos::crypto

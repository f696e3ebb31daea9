#include "pmos/crypto/aead.h"

#include <algorithm>
#include <array>
#include <climits>
#include <string>

#include <openssl/evp.h>

#include "pmos/base/check.h"
#include "pmos/base/openssl_ptr.h"
#include "pmos/base/secret_bytes.h"

namespace pmos::crypto {

ErrorOr<Bytes> Aead::seal(BytesView key, BytesView nonce, BytesView aad, BytesView plaintext) const {
  Bytes out(plaintext.size() + tag_size());
  TRY(seal_into(key, nonce, aad, plaintext, out));
  return out;
}

ErrorOr<Bytes> Aead::open(BytesView key, BytesView nonce, BytesView aad, BytesView ciphertext) const {
  if (ciphertext.size() < tag_size()) return Error::crypto("AEAD ciphertext is shorter than its tag");
  Bytes out(ciphertext.size() - tag_size());
  TRY(open_into(key, nonce, aad, ciphertext, out));
  return out;
}

namespace {

// OpenSSL and Botan take int lengths; MLS and HPKE messages are far below
// this, and GCM's own limit (2^36 - 32 bytes) is above it.
ErrorOr<void> check_sizes(const Aead& aead, BytesView key, BytesView nonce, BytesView aad, std::size_t body) {
  if (key.size() != aead.key_size()) return Error::invalid_argument("AEAD key has the wrong length");
  if (nonce.size() != aead.nonce_size()) return Error::invalid_argument("AEAD nonce has the wrong length");
  if (aad.size() > INT_MAX || body > INT_MAX - 64) return Error::invalid_argument("AEAD input is larger than 2 GiB");
  return {};
}

}  // namespace

ErrorOr<void> Aead::seal_into(BytesView key, BytesView nonce, BytesView aad, BytesView plaintext,
                              MutableBytesView out) const {
  TRY(check_sizes(*this, key, nonce, aad, plaintext.size()));
  if (out.size() != plaintext.size() + tag_size())
    return Error::invalid_argument("AEAD output buffer is not plaintext size + tag size");
  return seal_checked(key, nonce, aad, plaintext, out);
}

ErrorOr<void> Aead::open_into(BytesView key, BytesView nonce, BytesView aad, BytesView ciphertext,
                              MutableBytesView out) const {
  if (ciphertext.size() < tag_size()) return Error::crypto("AEAD ciphertext is shorter than its tag");
  std::size_t body = ciphertext.size() - tag_size();
  TRY(check_sizes(*this, key, nonce, aad, body));
  if (out.size() != body) return Error::invalid_argument("AEAD output buffer is not ciphertext size - tag size");
  return open_checked(key, nonce, aad, ciphertext, out);
}

namespace {

// AES-GCM and ChaCha20-Poly1305 through OpenSSL's EVP interface. The cipher
// is fetched once; each thread keeps one EVP_CIPHER_CTX per algorithm, so a
// call costs a key setup and the data, not allocations and fetches.
class EvpAead final : public Aead {
 public:
  EvpAead(AeadId id, std::string_view name, const char* openssl_name, std::size_t key_size,
          std::size_t slot)
      : id_(id), name_(name), key_size_(key_size), slot_(slot),
        cipher_(EVP_CIPHER_fetch(nullptr, openssl_name, nullptr)) {
    VERIFY(cipher_ != nullptr);
    VERIFY(slot < kSlots);
  }

  std::uint16_t id() const override { return static_cast<std::uint16_t>(id_); }
  std::string_view name() const override { return name_; }
  std::size_t key_size() const override { return key_size_; }
  std::size_t nonce_size() const override { return 12; }
  std::size_t tag_size() const override { return 16; }

  ErrorOr<void> seal_checked(BytesView key, BytesView nonce, BytesView aad, BytesView plaintext,
                             MutableBytesView out) const override {
    EVP_CIPHER_CTX* ctx = context();
    int ignored = 0;  // AAD "output" length
    int length = 0;
    if (EVP_EncryptInit_ex2(ctx, cipher_.get(), key.data(), nonce.data(), nullptr) != 1 ||
        (!aad.empty() && EVP_EncryptUpdate(ctx, nullptr, &ignored, aad.data(), int(aad.size())) != 1) ||
        (!plaintext.empty() &&
         EVP_EncryptUpdate(ctx, out.data(), &length, plaintext.data(), int(plaintext.size())) != 1) ||
        EVP_EncryptFinal_ex(ctx, out.data() + length, &length) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, int(tag_size()),
                            out.data() + plaintext.size()) != 1) {
      secure_zero(out);
      return Error::crypto("AEAD encryption failed in OpenSSL");
    }
    return {};
  }

  ErrorOr<void> open_checked(BytesView key, BytesView nonce, BytesView aad, BytesView ciphertext,
                             MutableBytesView out) const override {
    std::size_t body = ciphertext.size() - tag_size();
    EVP_CIPHER_CTX* ctx = context();
    int ignored = 0;  // AAD "output" length
    int length = 0;
    // OpenSSL's tag check happens in DecryptFinal; the plaintext written
    // before it is unauthenticated and is wiped if the check fails.
    std::array<std::uint8_t, 16> tag;
    std::copy_n(ciphertext.data() + body, tag.size(), tag.data());
    bool ok = EVP_DecryptInit_ex2(ctx, cipher_.get(), key.data(), nonce.data(), nullptr) == 1 &&
              (aad.empty() || EVP_DecryptUpdate(ctx, nullptr, &ignored, aad.data(), int(aad.size())) == 1) &&
              (body == 0 || EVP_DecryptUpdate(ctx, out.data(), &length, ciphertext.data(), int(body)) == 1) &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, int(tag.size()), tag.data()) == 1 &&
              EVP_DecryptFinal_ex(ctx, out.data() + length, &length) == 1;
    if (!ok) {
      secure_zero(out);
      return Error::crypto("AEAD authentication failed: the ciphertext, nonce, key or associated data is wrong");
    }
    return {};
  }

 private:
  static constexpr std::size_t kSlots = 4;


  EVP_CIPHER_CTX* context() const {
    thread_local std::array<EvpCipherCtxPtr, kSlots> contexts;
    EvpCipherCtxPtr& ctx = contexts[slot_];
    if (!ctx) {
      ctx.reset(EVP_CIPHER_CTX_new());
      VERIFY(ctx != nullptr);
    }
    return ctx.get();
  }

  AeadId id_;
  std::string_view name_;
  std::size_t key_size_;
  std::size_t slot_;
  EvpCipherPtr cipher_;
};

}  // namespace

const Aead& aes128_gcm() {
  static const EvpAead aead(AeadId::kAes128Gcm, "AES-128-GCM", "AES-128-GCM", 16, 0);
  return aead;
}
const Aead& aes256_gcm() {
  static const EvpAead aead(AeadId::kAes256Gcm, "AES-256-GCM", "AES-256-GCM", 32, 1);
  return aead;
}
const Aead& chacha20_poly1305() {
  static const EvpAead aead(AeadId::kChaCha20Poly1305, "ChaCha20-Poly1305", "ChaCha20-Poly1305", 32, 2);
  return aead;
}

ErrorOr<const Aead*> aead_for_id(std::uint16_t id) {
  switch (static_cast<AeadId>(id)) {
    case AeadId::kAes128Gcm: return &aes128_gcm();
    case AeadId::kAes256Gcm: return &aes256_gcm();
    case AeadId::kChaCha20Poly1305: return &chacha20_poly1305();
    case AeadId::kSm4Gcm: return &sm4_gcm();
    case AeadId::kExportOnly: return Error::invalid_argument("HPKE export-only mode has no AEAD");
  }
  return Error::unsupported("unknown AEAD id");
}

}  // namespace pmos::crypto

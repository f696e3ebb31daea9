// SM4-GCM (RFC 8998 §2, GB/T 36624-2018) behind the Aead interface.
//
// OpenSSL 3.0 has the SM4 block cipher but no SM4-GCM (it arrived in 3.2),
// and the project does not write GCM itself: a home-made GHASH is where
// forgeries come from. Botan 2 ("SM4/GCM") supplies the mode. Botan reports
// errors by throwing; this file is the boundary, and nothing thrown by Botan
// leaves it.

#include <algorithm>
#include <climits>
#include <memory>

#include <botan/aead.h>
#include <botan/exceptn.h>

#include "pmos/base/check.h"
#include "pmos/base/secret_bytes.h"
#include "pmos/crypto/aead.h"

namespace pmos::crypto {

namespace {

class Sm4Gcm final : public Aead {
 public:
  std::uint16_t id() const override { return static_cast<std::uint16_t>(AeadId::kSm4Gcm); }
  std::string_view name() const override { return "SM4-GCM"; }
  std::size_t key_size() const override { return 16; }
  // RFC 8998 §2 fixes a 12-byte nonce and a 16-byte tag (GCM itself allows
  // other nonce lengths, which HPKE and MLS never use; refusing them keeps
  // the GHASH-derived counter path, and its bugs, out of reach).
  std::size_t nonce_size() const override { return 12; }
  std::size_t tag_size() const override { return 16; }

  ErrorOr<void> seal_checked(BytesView key, BytesView nonce, BytesView aad, BytesView plaintext,
                             MutableBytesView out) const override {
    Botan::AEAD_Mode& mode = encryptor();
    try {
      start(mode, key, nonce, aad);
      // Whole granules are encrypted in place in `out`; Botan's finish()
      // wants its own buffer, so only the short tail and the tag pass
      // through one.
      std::copy(plaintext.begin(), plaintext.end(), out.begin());
      std::size_t bulk = plaintext.size() - plaintext.size() % mode.update_granularity();
      if (bulk > 0) VERIFY(mode.process(out.data(), bulk) == bulk);
      Botan::secure_vector<std::uint8_t> tail(out.begin() + static_cast<std::ptrdiff_t>(bulk),
                                              out.begin() + static_cast<std::ptrdiff_t>(plaintext.size()));
      mode.finish(tail);
      VERIFY(tail.size() == out.size() - bulk);
      std::copy(tail.begin(), tail.end(), out.begin() + static_cast<std::ptrdiff_t>(bulk));
    } catch (const std::exception&) {
      secure_zero(out);
      return Error::crypto("AEAD encryption failed in Botan");
    }
    return {};
  }

  ErrorOr<void> open_checked(BytesView key, BytesView nonce, BytesView aad, BytesView ciphertext,
                             MutableBytesView out) const override {
    std::size_t body = ciphertext.size() - tag_size();
    Botan::AEAD_Mode& mode = decryptor();
    try {
      start(mode, key, nonce, aad);
      // As with OpenSSL, the tag is checked last (in finish()): whatever was
      // decrypted into `out` before that is unauthenticated, and is wiped
      // below if the check fails.
      std::size_t bulk = body - body % mode.update_granularity();
      std::copy_n(ciphertext.begin(), bulk, out.begin());
      if (bulk > 0) VERIFY(mode.process(out.data(), bulk) == bulk);
      Botan::secure_vector<std::uint8_t> tail(ciphertext.begin() + static_cast<std::ptrdiff_t>(bulk),
                                              ciphertext.end());
      mode.finish(tail);  // throws Invalid_Authentication_Tag on a bad tag
      VERIFY(tail.size() == body - bulk);
      std::copy(tail.begin(), tail.end(), out.begin() + static_cast<std::ptrdiff_t>(bulk));
    } catch (const std::exception&) {
      secure_zero(out);
      return Error::crypto("AEAD authentication failed: the ciphertext, nonce, key or associated data is wrong");
    }
    return {};
  }

 private:

  // Each message has its own key in MLS's secret tree, so the key schedule
  // runs per call, as in the OpenSSL AEADs; the mode object (and its
  // allocations) is made once per thread and direction.
  static void start(Botan::AEAD_Mode& mode, BytesView key, BytesView nonce, BytesView aad) {
    mode.set_key(key.data(), key.size());
    mode.set_associated_data(aad.data(), aad.size());
    mode.start(nonce.data(), nonce.size());
  }

  static Botan::AEAD_Mode& encryptor() {
    thread_local std::unique_ptr<Botan::AEAD_Mode> mode = make(Botan::ENCRYPTION);
    return *mode;
  }
  static Botan::AEAD_Mode& decryptor() {
    thread_local std::unique_ptr<Botan::AEAD_Mode> mode = make(Botan::DECRYPTION);
    return *mode;
  }
  static std::unique_ptr<Botan::AEAD_Mode> make(Botan::Cipher_Dir direction) {
    // "SM4/GCM" is GCM with a 16-byte tag; a Botan without SM4 or GCM is a
    // build fault, not a runtime condition.
    std::unique_ptr<Botan::AEAD_Mode> mode = Botan::AEAD_Mode::create("SM4/GCM", direction);
    VERIFY(mode != nullptr);
    VERIFY(mode->tag_size() == 16);
    return mode;
  }
};

}  // namespace

const Aead& sm4_gcm() {
  static const Sm4Gcm aead;
  return aead;
}

}  // namespace pmos::crypto

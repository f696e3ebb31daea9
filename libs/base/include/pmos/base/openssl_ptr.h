#pragma once

#include <memory>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/x509.h>

namespace pmos {

// A stateless deleter that calls `fn`: the unique_ptr stays one pointer wide
// (a function-pointer deleter would double it).
template <auto fn>
struct FnDeleter {
  template <typename T>
  void operator()(T* p) const {
    fn(p);
  }
};

// One owning type per OpenSSL object.
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, FnDeleter<EVP_PKEY_free>>;
using EvpPkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, FnDeleter<EVP_PKEY_CTX_free>>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, FnDeleter<EVP_MD_CTX_free>>;
using EvpCipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, FnDeleter<EVP_CIPHER_CTX_free>>;
using EvpMacPtr = std::unique_ptr<EVP_MAC, FnDeleter<EVP_MAC_free>>;
using EvpMacCtxPtr = std::unique_ptr<EVP_MAC_CTX, FnDeleter<EVP_MAC_CTX_free>>;
using EvpKdfPtr = std::unique_ptr<EVP_KDF, FnDeleter<EVP_KDF_free>>;
using EvpKdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, FnDeleter<EVP_KDF_CTX_free>>;
using EvpMdPtr = std::unique_ptr<EVP_MD, FnDeleter<EVP_MD_free>>;
using EvpCipherPtr = std::unique_ptr<EVP_CIPHER, FnDeleter<EVP_CIPHER_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, FnDeleter<BN_clear_free>>;
using BnCtxPtr = std::unique_ptr<BN_CTX, FnDeleter<BN_CTX_free>>;
using EcGroupPtr = std::unique_ptr<EC_GROUP, FnDeleter<EC_GROUP_free>>;
using EcPointPtr = std::unique_ptr<EC_POINT, FnDeleter<EC_POINT_clear_free>>;
using X509Ptr = std::unique_ptr<X509, FnDeleter<X509_free>>;
using X509ReqPtr = std::unique_ptr<X509_REQ, FnDeleter<X509_REQ_free>>;

}  // namespace pmos

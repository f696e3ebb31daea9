#pragma once

// SM2 specifics beyond the SignatureScheme interface: the distinguishing ID
// and the Z value it feeds (GB/T 32918.2-2016 §5.5). sm2_sm3() in
// signature.h is the scheme with the default ID, which MLS suite 0xF0A1 uses.

#include <memory>
#include <string_view>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/crypto/signature.h"

namespace pmos::crypto {

// The default distinguishing ID (GM/T 0009-2012 §10, cited by RFC 8998
// §3.2.1), also what X.509 certificates on SM2 use.
inline constexpr std::string_view kSm2DefaultId = "1234567812345678";
// The ID RFC 8998 §3.2.1 fixes for TLS 1.3 CertificateVerify.
inline constexpr std::string_view kSm2Tls13Id = "TLSv1.3+GM+Cipher+Suite";

// Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA) for the uncompressed
// public point `public_point` on sm2p256v1. IDs longer than 8191 bytes (ENTL
// is 16 bits of bit length) and points not on the curve are errors.
ErrorOr<Bytes> sm2_z(BytesView public_point, std::string_view id);

// SM2-with-SM3 signing under another distinguishing ID (TLS 1.3 uses
// kSm2Tls13Id). The caller owns the scheme; its keys work only with it (a
// key carries the Z of its scheme's ID) and must not outlive it. Thread-safe
// and immutable like the built-in schemes. id() is 0x0708 as for sm2_sm3().
ErrorOr<std::unique_ptr<SignatureScheme>> sm2_sm3_with_id(std::string_view id);

}  // namespace pmos::crypto

#pragma once

#include "pmos/base/error.h"

// Every refusal of libs/pkg is one of these values, so that a caller (pmosd,
// `pmos app`) can branch on the exact reason by comparing with ==, and a
// person reads a sentence that says what was wrong. Decoding errors of the
// wire format itself are plain kDecode errors from the codec or the
// validators; the constants below are the decisions about trust.
namespace pmos::pkg::errors {

// --- the package file --------------------------------------------------------
inline constexpr Error kBadMagic = Error::decode("not a PMOS app package (bad magic)");
inline constexpr Error kUnsupportedFormat =
    Error::unsupported("PMOS app package format version is not supported");
inline constexpr Error kDigestMismatch =
    Error::crypto("package digest does not match the manifest and payload");
inline constexpr Error kCountersignatureWithoutSignature =
    Error::decode("package has a countersignature but no developer signature");
inline constexpr Error kRotationWithoutSignature =
    Error::decode("package has rotation statements but no developer signature");
inline constexpr Error kPackageTooLarge =
    Error::invalid_argument("payload exceeds the largest package the format can carry");

// --- signatures and the vetting record ---------------------------------------
inline constexpr Error kMissingDeveloperSignature =
    Error::crypto("package is not signed by its developer");
inline constexpr Error kBadDeveloperSignature =
    Error::crypto("developer signature does not verify");
inline constexpr Error kBadRotationStatement =
    Error::crypto("key rotation statement is invalid (bad signature, other app, or broken chain)");
inline constexpr Error kMissingCountersignature =
    Error::crypto("package is not countersigned by the authority");
inline constexpr Error kUnknownAuthorityKey =
    Error::crypto("countersignature is by a key that is not a configured authority key");
inline constexpr Error kBadCountersignature =
    Error::crypto("authority countersignature does not verify");
inline constexpr Error kRecordMismatch =
    Error::crypto("vetting record does not describe this package (app, version or digest)");
inline constexpr Error kRecordDeveloperMismatch =
    Error::crypto("vetting record names a different developer key than the one that signed");
inline constexpr Error kFailsStandard = Error::crypto("package fails the app standard");
inline constexpr Error kReportMismatch =
    Error::crypto("vetting report digest differs from vetting against the same app standard here");
inline constexpr Error kAlreadyCountersigned =
    Error::invalid_argument("package is already countersigned");

// --- install-side continuity -------------------------------------------------
inline constexpr Error kDowngrade =
    Error::crypto("version code does not grow over the installed version (downgrade or replay)");
inline constexpr Error kKeyChangeWithoutRotation =
    Error::crypto("developer key differs from the pinned key and no rotation statement by the pinned key links them");

// --- key files -------------------------------------------------------------
inline constexpr Error kBadKeyFile = Error::decode("not a PMOS key file");
inline constexpr Error kKeyFileTooOpen =
    Error::invalid_argument("private key file is readable by group or others (chmod 600)");

}  // namespace pmos::pkg::errors

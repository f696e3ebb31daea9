#pragma once

// MLSMessage (RFC 9420 §6): the envelope of everything MLS sends. Plain
// data, copyable, not synchronised.
//
// Decoding is strict: the version must be mls10 ("unsupported protocol
// version": the layout of what follows is version-specific), the wire format
// one of the five of RFC 9420 ("unknown wire format"), and a KeyPackage's own
// version must equal the message's (§10, "key package version differs from
// the message version").

#include <compare>
#include <variant>

#include "pmos/base/codec.h"
#include "pmos/mls/group_info.h"
#include "pmos/mls/key_package.h"
#include "pmos/mls/private_message.h"
#include "pmos/mls/public_message.h"
#include "pmos/mls/types.h"
#include "pmos/mls/welcome.h"

namespace pmos::mls {

struct MlsMessage {
  ProtocolVersion version = ProtocolVersion::kMls10;
  std::variant<PublicMessage, PrivateMessage, Welcome, GroupInfo, KeyPackage> message;

  WireFormat wire_format() const;

  void tls_encode(tls::Writer& w) const;
  static ErrorOr<MlsMessage> tls_decode(tls::Reader& r);
  friend bool operator==(const MlsMessage&, const MlsMessage&) = default;
};

}  // namespace pmos::mls

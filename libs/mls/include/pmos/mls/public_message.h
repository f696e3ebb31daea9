#pragma once

// A signed, unencrypted handshake message (RFC 9420 §6.2). Plain data,
// copyable, not synchronised. Decoding checks syntax only: the signature
// and membership tag are verified by the code that holds the keys.

#include <compare>
#include <optional>

#include "pmos/base/codec.h"
#include "pmos/mls/framed_content.h"
#include "pmos/mls/types.h"

namespace pmos::mls {

struct PublicMessage {
  FramedContent content;
  FramedContentAuthData auth;
  // On the wire exactly for member senders. Encoding a value whose presence
  // disagrees with content.sender is a bug and aborts (VERIFY).
  std::optional<Mac> membership_tag;

  void tls_encode(tls::Writer& w) const;
  static ErrorOr<PublicMessage> tls_decode(tls::Reader& r);
  friend bool operator==(const PublicMessage&, const PublicMessage&) = default;
};

}  // namespace pmos::mls

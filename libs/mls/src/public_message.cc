#include "pmos/mls/public_message.h"

#include "pmos/base/check.h"

namespace pmos::mls {

void PublicMessage::tls_encode(tls::Writer& w) const {
  bool from_member = content.sender.sender_type() == SenderType::kMember;
  VERIFY(membership_tag.has_value() == from_member);
  tls::write(w, content);
  auth.tls_encode(w, content.content_type());
  if (from_member) tls::write(w, *membership_tag);
}

ErrorOr<PublicMessage> PublicMessage::tls_decode(tls::Reader& r) {
  PublicMessage message;
  TRY(tls::read(r, message.content));
  message.auth = TRY(FramedContentAuthData::tls_decode(r, message.content.content_type()));
  // §6.2: only members hold the membership key.
  if (message.content.sender.sender_type() == SenderType::kMember) {
    Mac tag;
    TRY(tls::read(r, tag));
    message.membership_tag = std::move(tag);
  }
  return message;
}

}  // namespace pmos::mls

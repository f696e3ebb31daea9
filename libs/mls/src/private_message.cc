#include "pmos/mls/private_message.h"

#include "select.h"

namespace pmos::mls {

namespace {
constexpr std::array kContentTags = {ContentType::kApplication, ContentType::kProposal, ContentType::kCommit};
}  // namespace

Bytes PrivateMessageContent::encode() const {
  tls::Writer w;
  detail::write_alternative(w, content);
  auth.tls_encode(w, content_type());
  w.raw(Bytes(padding_length, 0));
  return std::move(w).take();
}

ErrorOr<PrivateMessageContent> PrivateMessageContent::decode(BytesView plaintext, ContentType content_type) {
  std::optional<std::size_t> index = detail::index_of(kContentTags, content_type);
  if (!index) return Error::decode("unknown content type");
  tls::Reader r(plaintext);
  PrivateMessageContent result;
  TRY(detail::read_alternative(r, *index, result.content));
  result.auth = TRY(FramedContentAuthData::tls_decode(r, content_type));
  // §6.3.1: whatever follows is padding and MUST be all zero. OR-ing every
  // byte keeps the check free of data-dependent branches; the length is
  // public anyway.
  BytesView padding = TRY(r.raw(r.remaining()));
  std::uint8_t any = 0;
  for (std::uint8_t byte : padding) any |= byte;
  if (any != 0) return Error::decode("non-zero padding in PrivateMessageContent");
  result.padding_length = padding.size();
  return result;
}

}  // namespace pmos::mls

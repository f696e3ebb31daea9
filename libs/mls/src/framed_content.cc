#include "pmos/mls/framed_content.h"

#include "pmos/base/check.h"
#include "select.h"

namespace pmos::mls {

namespace {

constexpr std::array kSenderTags = {SenderType::kMember, SenderType::kExternal,
                                    SenderType::kNewMemberProposal, SenderType::kNewMemberCommit};

constexpr std::array kContentTags = {ContentType::kApplication, ContentType::kProposal, ContentType::kCommit};

}  // namespace

SenderType Sender::sender_type() const { return kSenderTags[value.index()]; }

void Sender::tls_encode(tls::Writer& w) const { detail::write_select(w, kSenderTags, value); }

ErrorOr<Sender> Sender::tls_decode(tls::Reader& r) {
  Sender sender;
  TRY(detail::read_select(r, kSenderTags, Error::decode("unknown sender type"), sender.value));
  return sender;
}

ContentType content_type_of(const Content& content) { return kContentTags[content.index()]; }

void FramedContent::tls_encode(tls::Writer& w) const {
  tls::write(w, group_id);
  tls::write(w, epoch);
  tls::write(w, sender);
  tls::write(w, authenticated_data);
  detail::write_select(w, kContentTags, content);
}

ErrorOr<FramedContent> FramedContent::tls_decode(tls::Reader& r) {
  FramedContent framed;
  TRY(tls::read(r, framed.group_id));
  TRY(tls::read(r, framed.epoch));
  TRY(tls::read(r, framed.sender));
  TRY(tls::read(r, framed.authenticated_data));
  TRY(detail::read_select(r, kContentTags, Error::decode("unknown content type"), framed.content));
  return framed;
}

void FramedContentAuthData::tls_encode(tls::Writer& w, ContentType content_type) const {
  bool is_commit = content_type == ContentType::kCommit;
  VERIFY(confirmation_tag.has_value() == is_commit);
  tls::write(w, signature);
  if (is_commit) tls::write(w, *confirmation_tag);
}

ErrorOr<FramedContentAuthData> FramedContentAuthData::tls_decode(tls::Reader& r, ContentType content_type) {
  FramedContentAuthData auth;
  TRY(tls::read(r, auth.signature));
  if (content_type == ContentType::kCommit) {
    Mac tag;
    TRY(tls::read(r, tag));
    auth.confirmation_tag = std::move(tag);
  }
  return auth;
}

void AuthenticatedContent::tls_encode(tls::Writer& w) const {
  tls::write(w, wire_format);
  tls::write(w, content);
  auth.tls_encode(w, content.content_type());
}

ErrorOr<AuthenticatedContent> AuthenticatedContent::tls_decode(tls::Reader& r) {
  AuthenticatedContent authenticated;
  TRY(tls::read(r, authenticated.wire_format));
  TRY(tls::read(r, authenticated.content));
  authenticated.auth = TRY(FramedContentAuthData::tls_decode(r, authenticated.content.content_type()));
  return authenticated;
}

// §6.1: members and new_member_commit senders sign over the GroupContext,
// binding the signature to one group and epoch; the others cannot know it.
bool FramedContentTbs::has_context(const Sender& sender) {
  SenderType type = sender.sender_type();
  return type == SenderType::kMember || type == SenderType::kNewMemberCommit;
}

void FramedContentTbs::tls_encode(tls::Writer& w) const {
  VERIFY(context.has_value() == has_context(content.sender));
  tls::write(w, version);
  tls::write(w, wire_format);
  tls::write(w, content);
  if (context) tls::write(w, *context);
}

ErrorOr<FramedContentTbs> FramedContentTbs::tls_decode(tls::Reader& r) {
  FramedContentTbs tbs;
  TRY(tls::read(r, tbs.version));
  TRY(tls::read(r, tbs.wire_format));
  TRY(tls::read(r, tbs.content));
  if (has_context(tbs.content.sender)) {
    GroupContext context;
    TRY(tls::read(r, context));
    tbs.context = std::move(context);
  }
  return tbs;
}

void AuthenticatedContentTbm::tls_encode(tls::Writer& w) const {
  tls::write(w, content_tbs);
  auth.tls_encode(w, content_tbs.content.content_type());
}

ErrorOr<AuthenticatedContentTbm> AuthenticatedContentTbm::tls_decode(tls::Reader& r) {
  AuthenticatedContentTbm tbm;
  TRY(tls::read(r, tbm.content_tbs));
  tbm.auth = TRY(FramedContentAuthData::tls_decode(r, tbm.content_tbs.content.content_type()));
  return tbm;
}

}  // namespace pmos::mls

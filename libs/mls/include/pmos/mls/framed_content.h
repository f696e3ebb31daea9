#pragma once

// Message framing (RFC 9420 §6): who sent what in which epoch, and the
// signature-side structures built around it (§6.1, §6.2, §8.2). Plain data,
// copyable, not synchronised.
//
// FramedContentAuthData has no self-contained wire form: whether its
// confirmation_tag is on the wire depends on the content type of the
// FramedContent it belongs to. It therefore has no tls_encode(w) /
// tls_decode(r) of its own, only overloads taking that content type, and the
// structs that contain it (AuthenticatedContent, PublicMessage,
// PrivateMessageContent, AuthenticatedContentTbm) pass it along.

#include <compare>
#include <cstdint>
#include <optional>
#include <tuple>
#include <variant>

#include "pmos/base/codec.h"
#include "pmos/mls/commit.h"
#include "pmos/mls/group_context.h"
#include "pmos/mls/proposal.h"
#include "pmos/mls/tree_math.h"
#include "pmos/mls/types.h"

namespace pmos::mls {

// sender_type = member.
struct MemberSender {
  LeafIndex leaf_index;

  static auto tls_fields(auto& self) { return std::tie(self.leaf_index); }
  friend bool operator==(const MemberSender&, const MemberSender&) = default;
};

// sender_type = external: an index into the external_senders extension.
struct ExternalSenderIndex {
  std::uint32_t sender_index = 0;

  static auto tls_fields(auto& self) { return std::tie(self.sender_index); }
  friend bool operator==(const ExternalSenderIndex&, const ExternalSenderIndex&) = default;
};

// sender_type = new_member_proposal: no fields.
struct NewMemberProposalSender {
  friend bool operator==(const NewMemberProposalSender&, const NewMemberProposalSender&) = default;
};

// sender_type = new_member_commit: no fields.
struct NewMemberCommitSender {
  friend bool operator==(const NewMemberCommitSender&, const NewMemberCommitSender&) = default;
};

// `struct { SenderType sender_type; select (sender_type) {...} } Sender`.
struct Sender {
  std::variant<MemberSender, ExternalSenderIndex, NewMemberProposalSender, NewMemberCommitSender> value;

  SenderType sender_type() const;

  void tls_encode(tls::Writer& w) const;
  static ErrorOr<Sender> tls_decode(tls::Reader& r);
  friend bool operator==(const Sender&, const Sender&) = default;
};

// content_type = application.
struct ApplicationData {
  Bytes data;  // opaque application_data<V>

  static auto tls_fields(auto& self) { return std::tie(self.data); }
  friend bool operator==(const ApplicationData&, const ApplicationData&) = default;
};

// `ContentType content_type; select (content_type) {...}` of FramedContent
// and PrivateMessageContent: the alternative held is the content type.
using Content = std::variant<ApplicationData, Proposal, Commit>;

ContentType content_type_of(const Content& content);

struct FramedContent {
  Bytes group_id;  // opaque<V>
  std::uint64_t epoch = 0;
  Sender sender;
  Bytes authenticated_data;  // opaque<V>
  Content content;

  ContentType content_type() const { return content_type_of(content); }

  void tls_encode(tls::Writer& w) const;
  static ErrorOr<FramedContent> tls_decode(tls::Reader& r);
  friend bool operator==(const FramedContent&, const FramedContent&) = default;
};

// The signature over a FramedContent and, for commits only, the
// confirmation tag (§6.1).
struct FramedContentAuthData {
  Bytes signature;                      // opaque<V>
  std::optional<Mac> confirmation_tag;  // present exactly when content_type == commit

  // Writes the auth data of content of type `content_type`. A value whose
  // confirmation_tag presence disagrees with the type is a bug in the
  // caller and aborts (VERIFY): the bytes would not decode.
  void tls_encode(tls::Writer& w, ContentType content_type) const;
  static ErrorOr<FramedContentAuthData> tls_decode(tls::Reader& r, ContentType content_type);
  friend bool operator==(const FramedContentAuthData&, const FramedContentAuthData&) = default;
};

// A FramedContent with its authentication, as signed and hashed (§6).
struct AuthenticatedContent {
  WireFormat wire_format = WireFormat::kPublicMessage;
  FramedContent content;
  FramedContentAuthData auth;

  void tls_encode(tls::Writer& w) const;
  static ErrorOr<AuthenticatedContent> tls_decode(tls::Reader& r);
  friend bool operator==(const AuthenticatedContent&, const AuthenticatedContent&) = default;
};

// What the FramedContentAuthData signature covers (§6.1). `context` is on
// the wire exactly for member and new_member_commit senders; encoding a
// value that disagrees aborts (VERIFY), decoding reads what the sender needs.
struct FramedContentTbs {
  ProtocolVersion version = ProtocolVersion::kMls10;
  WireFormat wire_format = WireFormat::kPublicMessage;
  FramedContent content;
  std::optional<GroupContext> context;

  // Whether a FramedContentTbs for `sender` carries the GroupContext.
  static bool has_context(const Sender& sender);

  void tls_encode(tls::Writer& w) const;
  static ErrorOr<FramedContentTbs> tls_decode(tls::Reader& r);
  friend bool operator==(const FramedContentTbs&, const FramedContentTbs&) = default;
};

// What the membership_tag MAC covers (§6.2).
struct AuthenticatedContentTbm {
  FramedContentTbs content_tbs;
  FramedContentAuthData auth;

  void tls_encode(tls::Writer& w) const;
  static ErrorOr<AuthenticatedContentTbm> tls_decode(tls::Reader& r);
  friend bool operator==(const AuthenticatedContentTbm&, const AuthenticatedContentTbm&) = default;
};

// Input to the confirmed transcript hash (§8.2); content is a commit.
struct ConfirmedTranscriptHashInput {
  WireFormat wire_format = WireFormat::kPublicMessage;
  FramedContent content;
  Bytes signature;  // opaque<V>

  static auto tls_fields(auto& self) { return std::tie(self.wire_format, self.content, self.signature); }
  friend bool operator==(const ConfirmedTranscriptHashInput&, const ConfirmedTranscriptHashInput&) = default;
};

// Input to the interim transcript hash (§8.2).
struct InterimTranscriptHashInput {
  Mac confirmation_tag;

  static auto tls_fields(auto& self) { return std::tie(self.confirmation_tag); }
  friend bool operator==(const InterimTranscriptHashInput&, const InterimTranscriptHashInput&) = default;
};

}  // namespace pmos::mls

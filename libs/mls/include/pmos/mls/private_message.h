#pragma once

// An encrypted message (RFC 9420 §6.3) and the structures inside and around
// its two ciphertexts. Plain data, copyable, not synchronised.

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <tuple>

#include "pmos/base/codec.h"
#include "pmos/mls/framed_content.h"
#include "pmos/mls/tree_math.h"
#include "pmos/mls/types.h"

namespace pmos::mls {

struct PrivateMessage {
  Bytes group_id;  // opaque<V>
  std::uint64_t epoch = 0;
  ContentType content_type = ContentType::kApplication;  // validated
  Bytes authenticated_data;                              // opaque<V>
  Bytes encrypted_sender_data;                           // opaque<V>
  Bytes ciphertext;                                      // opaque<V>

  static auto tls_fields(auto& self) {
    return std::tie(self.group_id, self.epoch, self.content_type, self.authenticated_data,
                    self.encrypted_sender_data, self.ciphertext);
  }
  friend bool operator==(const PrivateMessage&, const PrivateMessage&) = default;
};

// The AAD of the content ciphertext (§6.3.1).
struct PrivateContentAad {
  Bytes group_id;
  std::uint64_t epoch = 0;
  ContentType content_type = ContentType::kApplication;
  Bytes authenticated_data;

  static auto tls_fields(auto& self) {
    return std::tie(self.group_id, self.epoch, self.content_type, self.authenticated_data);
  }
  friend bool operator==(const PrivateContentAad&, const PrivateContentAad&) = default;
};

using ReuseGuard = std::array<std::uint8_t, 4>;

// The plaintext of encrypted_sender_data (§6.3.2).
struct SenderData {
  LeafIndex leaf_index;
  std::uint32_t generation = 0;
  ReuseGuard reuse_guard{};  // opaque reuse_guard[4]

  static auto tls_fields(auto& self) { return std::tie(self.leaf_index, self.generation, self.reuse_guard); }
  friend bool operator==(const SenderData&, const SenderData&) = default;
};

// The AAD of the sender-data ciphertext (§6.3.2).
struct SenderDataAad {
  Bytes group_id;
  std::uint64_t epoch = 0;
  ContentType content_type = ContentType::kApplication;

  static auto tls_fields(auto& self) { return std::tie(self.group_id, self.epoch, self.content_type); }
  friend bool operator==(const SenderDataAad&, const SenderDataAad&) = default;
};

// The plaintext of PrivateMessage.ciphertext (§6.3.1): the content, its
// auth data, and `padding_length` zero bytes. It has no length of its own,
// so it is encoded and decoded as a whole plaintext, never as a field.
struct PrivateMessageContent {
  Content content;
  FramedContentAuthData auth;
  std::size_t padding_length = 0;

  ContentType content_type() const { return content_type_of(content); }

  Bytes encode() const;
  // Decodes the plaintext of a PrivateMessage whose content_type is
  // `content_type`. Padding bytes that are not zero are an error ("non-zero
  // padding in PrivateMessageContent"): §6.3.1 makes the receiver reject
  // them, since free padding bytes would be a covert channel.
  static ErrorOr<PrivateMessageContent> decode(BytesView plaintext, ContentType content_type);
  friend bool operator==(const PrivateMessageContent&, const PrivateMessageContent&) = default;
};

}  // namespace pmos::mls

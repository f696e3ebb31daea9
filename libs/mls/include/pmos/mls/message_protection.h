#pragma once

// Message protection (RFC 9420 §6): signing and verifying FramedContent,
// PublicMessage (signature + membership tag) and PrivateMessage (sender-data
// encryption, content encryption with the secret tree, padding, reuse guard),
// and the transcript hashes and confirmation tag of §8.2.
//
// Stateless functions over an epoch's keys. Unprotecting checks everything
// the message itself proves (group, epoch, membership tag, AEAD, padding) and
// returns the AuthenticatedContent; the content signature is verified with
// the sender's key, which only the group state knows (verify_signature), and
// exactly once.

#include <cstddef>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/crypto/cipher_suite.h"
#include "pmos/mls/framed_content.h"
#include "pmos/mls/group_context.h"
#include "pmos/mls/private_message.h"
#include "pmos/mls/public_message.h"
#include "pmos/mls/secret_tree.h"

namespace pmos::mls {

// SignWithLabel(., "FramedContentTBS", FramedContentTBS). `context` is used
// only for senders whose TBS includes it (member, new_member_commit).
ErrorOr<Bytes> sign_content(const crypto::CipherSuite& suite, WireFormat wire_format,
                            const FramedContent& content, const GroupContext& context,
                            const crypto::PrivateKey& signature_key);
ErrorOr<void> verify_signature(const crypto::CipherSuite& suite, const AuthenticatedContent& content,
                               const GroupContext& context, const crypto::PublicKey& signature_key);

// A PublicMessage from signed content; member senders get a membership tag.
// Application data may not travel as a PublicMessage (§6.2).
ErrorOr<PublicMessage> protect_public(const crypto::CipherSuite& suite, const AuthenticatedContent& content,
                                      const GroupContext& context, BytesView membership_key);
ErrorOr<AuthenticatedContent> unprotect_public(const crypto::CipherSuite& suite, const PublicMessage& message,
                                               const GroupContext& context, BytesView membership_key);

// What PrivateMessage protection needs of the epoch. The tree is advanced:
// each key is used once.
struct PrivateKeys {
  SecretTree& tree;
  BytesView sender_data_secret;
};

// Encrypts content from a member sender, padding the plaintext with
// `padding` zero bytes (hides the length of short messages).
ErrorOr<PrivateMessage> protect_private(const crypto::CipherSuite& suite, const AuthenticatedContent& content,
                                        const GroupContext& context, PrivateKeys keys,
                                        std::size_t padding = 0);
ErrorOr<AuthenticatedContent> unprotect_private(const crypto::CipherSuite& suite,
                                                const PrivateMessage& message, const GroupContext& context,
                                                PrivateKeys keys);

// MAC(key, data) = HMAC with the suite's hash (§5.2, "MAC").
Bytes mac(const crypto::CipherSuite& suite, BytesView key, BytesView data);

// Transcript hashes (§8.2).
Bytes confirmed_transcript_hash(const crypto::CipherSuite& suite, BytesView interim_transcript_hash_before,
                                const AuthenticatedContent& commit);
Bytes interim_transcript_hash(const crypto::CipherSuite& suite, BytesView confirmed_transcript_hash,
                              const Mac& confirmation_tag);
// confirmation_tag = MAC(confirmation_key, confirmed_transcript_hash).
Mac confirmation_tag(const crypto::CipherSuite& suite, BytesView confirmation_key,
                     BytesView confirmed_transcript_hash);
// Constant-time check of a received confirmation tag.
ErrorOr<void> verify_confirmation_tag(const crypto::CipherSuite& suite, BytesView confirmation_key,
                                      BytesView confirmed_transcript_hash, const Mac& tag);

}  // namespace pmos::mls

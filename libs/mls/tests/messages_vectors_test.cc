// Every serialized struct of the IETF interop vectors mls/messages.json must
// decode with our codec and re-encode to the same bytes (README-upstream.md,
// "Messages"). Fields are checked as the README types them.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "pmos/mls/commit.h"
#include "pmos/mls/mls_message.h"
#include "pmos/mls/proposal.h"
#include "pmos/mls/ratchet_tree.h"
#include "pmos/mls/welcome.h"
#include "pmos/testing/vectors.h"

namespace pmos::mls {
namespace {

// Decodes field `key` of `entry` as a T, expects the re-encoding to equal
// the input, and returns the value (nullopt after a failure).
template <typename T>
std::optional<T> round_trip(const nlohmann::json& entry, const char* key, int index, int& checked) {
  Bytes wire = testing::hex_field(entry, key);
  auto decoded = tls::decode<T>(wire);
  EXPECT_TRUE(decoded.has_value()) << "entry " << index << " " << key << ": " << decoded.error().to_string();
  if (!decoded) return std::nullopt;
  EXPECT_EQ(to_hex(tls::encode(*decoded)), to_hex(wire)) << "entry " << index << " " << key;
  ++checked;
  return std::move(decoded).value();
}

void expect_message(const nlohmann::json& entry, const char* key, int index, int& checked, WireFormat format,
                    std::optional<ContentType> content_type = std::nullopt) {
  auto message = round_trip<MlsMessage>(entry, key, index, checked);
  if (!message) return;
  EXPECT_EQ(message->wire_format(), format) << "entry " << index << " " << key;
  if (content_type) {
    const auto* public_message = std::get_if<PublicMessage>(&message->message);
    ASSERT_NE(public_message, nullptr) << "entry " << index << " " << key;
    EXPECT_EQ(public_message->content.content_type(), *content_type) << "entry " << index << " " << key;
  }
}

template <typename Alternative>
void expect_proposal(const nlohmann::json& entry, const char* key, int index, int& checked) {
  // Each proposal field is the bare struct, without the Proposal tag.
  (void)round_trip<Alternative>(entry, key, index, checked);
}

TEST(MessagesVectors, EveryFieldRoundTrips) {
  PMOS_LOAD_VECTORS(vectors, "mls/messages.json");
  int entries = 0;
  int fields = 0;
  for (const auto& entry : vectors) {
    int i = entries;
    expect_message(entry, "mls_welcome", i, fields, WireFormat::kWelcome);
    expect_message(entry, "mls_group_info", i, fields, WireFormat::kGroupInfo);
    expect_message(entry, "mls_key_package", i, fields, WireFormat::kKeyPackage);
    (void)round_trip<RatchetTree>(entry, "ratchet_tree", i, fields);
    (void)round_trip<GroupSecrets>(entry, "group_secrets", i, fields);
    expect_proposal<Add>(entry, "add_proposal", i, fields);
    expect_proposal<Update>(entry, "update_proposal", i, fields);
    expect_proposal<Remove>(entry, "remove_proposal", i, fields);
    expect_proposal<PreSharedKey>(entry, "pre_shared_key_proposal", i, fields);
    expect_proposal<ReInit>(entry, "re_init_proposal", i, fields);
    expect_proposal<ExternalInit>(entry, "external_init_proposal", i, fields);
    expect_proposal<GroupContextExtensions>(entry, "group_context_extensions_proposal", i, fields);
    (void)round_trip<Commit>(entry, "commit", i, fields);
    expect_message(entry, "public_message_application", i, fields, WireFormat::kPublicMessage,
                   ContentType::kApplication);
    expect_message(entry, "public_message_proposal", i, fields, WireFormat::kPublicMessage,
                   ContentType::kProposal);
    expect_message(entry, "public_message_commit", i, fields, WireFormat::kPublicMessage,
                   ContentType::kCommit);
    expect_message(entry, "private_message", i, fields, WireFormat::kPrivateMessage);
    ++entries;
  }
  std::cout << "messages.json: " << entries << " entries, " << fields << " fields round-tripped\n";
  RecordProperty("vectors_checked", entries);
  ASSERT_GT(entries, 0);
  EXPECT_EQ(fields, entries * 17);
}

}  // namespace
}  // namespace pmos::mls

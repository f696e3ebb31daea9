// Serialized structs found in the other IETF interop vector files must also
// decode and re-encode byte for byte. This guards our strictness (extension
// uniqueness, ratchet tree shape, version checks) against rejecting what
// real implementations send. The cryptographic checks of these files come
// with the rest of issue 3.
#include <gtest/gtest.h>

#include <string>

#include "pmos/mls/framed_content.h"
#include "pmos/mls/mls_message.h"
#include "pmos/mls/proposal.h"
#include "pmos/mls/ratchet_tree.h"
#include "pmos/mls/update_path.h"
#include "pmos/testing/vectors.h"

namespace pmos::mls {
namespace {

template <typename T>
void expect_round_trip(const nlohmann::json& object, const char* key, const std::string& where,
                       int& checked) {
  if (!object.contains(key) || object.at(key).is_null()) return;
  Bytes wire = testing::hex_field(object, key);
  auto decoded = tls::decode<T>(wire);
  ASSERT_TRUE(decoded.has_value()) << where << " " << key << ": " << decoded.error().to_string();
  EXPECT_EQ(to_hex(tls::encode(*decoded)), to_hex(wire)) << where << " " << key;
  ++checked;
}

TEST(OtherVectors, PassiveClientMessagesRoundTrip) {
  int checked = 0;
  for (const char* file : {"mls/passive-client-welcome.json", "mls/passive-client-handling-commit.json",
                           "mls/passive-client-random.json"}) {
    PMOS_LOAD_VECTORS(vectors, file);
    int index = 0;
    for (const auto& v : vectors) {
      std::string where = std::string(file) + " #" + std::to_string(index++);
      expect_round_trip<MlsMessage>(v, "key_package", where, checked);
      expect_round_trip<MlsMessage>(v, "welcome", where, checked);
      expect_round_trip<RatchetTree>(v, "ratchet_tree", where, checked);
      for (const auto& epoch : v.at("epochs")) {
        for (const auto& proposal : epoch.at("proposals")) {
          nlohmann::json wrapper = {{"proposal", proposal}};
          expect_round_trip<MlsMessage>(wrapper, "proposal", where, checked);
        }
        expect_round_trip<MlsMessage>(epoch, "commit", where, checked);
      }
    }
  }
  std::cout << "passive-client-*.json: " << checked << " messages round-tripped\n";
  ASSERT_GT(checked, 0);
}

TEST(OtherVectors, TreesAndPathsRoundTrip) {
  int checked = 0;
  {
    PMOS_LOAD_VECTORS(vectors, "mls/tree-validation.json");
    for (const auto& v : vectors) expect_round_trip<RatchetTree>(v, "tree", "tree-validation", checked);
  }
  {
    PMOS_LOAD_VECTORS(vectors, "mls/treekem.json");
    for (const auto& v : vectors) {
      expect_round_trip<RatchetTree>(v, "ratchet_tree", "treekem", checked);
      for (const auto& path : v.at("update_paths")) {
        expect_round_trip<UpdatePath>(path, "update_path", "treekem", checked);
      }
    }
  }
  {
    PMOS_LOAD_VECTORS(vectors, "mls/tree-operations.json");
    for (const auto& v : vectors) {
      expect_round_trip<RatchetTree>(v, "tree_before", "tree-operations", checked);
      expect_round_trip<RatchetTree>(v, "tree_after", "tree-operations", checked);
      expect_round_trip<Proposal>(v, "proposal", "tree-operations", checked);
    }
  }
  std::cout << "tree vectors: " << checked << " trees and paths round-tripped\n";
  ASSERT_GT(checked, 0);
}

TEST(OtherVectors, FramingVectorsRoundTrip) {
  int checked = 0;
  {
    PMOS_LOAD_VECTORS(vectors, "mls/welcome.json");
    for (const auto& v : vectors) {
      expect_round_trip<MlsMessage>(v, "key_package", "welcome", checked);
      expect_round_trip<MlsMessage>(v, "welcome", "welcome", checked);
    }
  }
  {
    PMOS_LOAD_VECTORS(vectors, "mls/message-protection.json");
    for (const auto& v : vectors) {
      expect_round_trip<Proposal>(v, "proposal", "message-protection", checked);
      expect_round_trip<Commit>(v, "commit", "message-protection", checked);
      for (const char* key :
           {"proposal_pub", "proposal_priv", "commit_pub", "commit_priv", "application_priv"}) {
        expect_round_trip<MlsMessage>(v, key, "message-protection", checked);
      }
    }
  }
  {
    PMOS_LOAD_VECTORS(vectors, "mls/transcript-hashes.json");
    for (const auto& v : vectors) {
      expect_round_trip<AuthenticatedContent>(v, "authenticated_content", "transcript-hashes", checked);
    }
  }
  std::cout << "welcome/message-protection/transcript-hashes: " << checked << " structs round-tripped\n";
  ASSERT_GT(checked, 0);
}

}  // namespace
}  // namespace pmos::mls

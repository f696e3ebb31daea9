// The passive-client vectors: join from a Welcome, then follow the group
// through every proposal and commit, matching each epoch authenticator.
#include <gtest/gtest.h>

#include "pmos/mls/state.h"
#include "pmos/testing/vectors.h"

namespace pmos::mls {
namespace {

using testing::hex_field;

MlsMessage message_of(const nlohmann::json& hex) {
  auto bytes = from_hex(hex.get<std::string>());
  EXPECT_TRUE(bytes.has_value());
  auto message = tls::decode<MlsMessage>(*bytes);
  EXPECT_TRUE(message.has_value()) << message.error().to_string();
  return message ? message.release_value() : MlsMessage{};
}

// Follows every scenario; returns the number of epochs checked.
int follow(const nlohmann::json& vectors, int& scenarios) {
  int epochs = 0;
  for (const auto& v : vectors) {
    SCOPED_TRACE("scenario " + std::to_string(scenarios) + ", suite " + std::to_string(v.at("cipher_suite").get<int>()));
    auto suite = crypto::CipherSuite::from_id(v.at("cipher_suite").get<std::uint16_t>()).value();
    KeyPackageBundle bundle;
    bundle.key_package = std::get<KeyPackage>(message_of(v.at("key_package")).message);
    bundle.init_key = suite.kem().private_key(hex_field(v, "init_priv")).value();
    bundle.encryption_key = suite.kem().private_key(hex_field(v, "encryption_priv")).value();
    bundle.signature_key = suite.signature().private_key(hex_field(v, "signature_priv")).value();
    Welcome welcome = std::get<Welcome>(message_of(v.at("welcome")).message);
    std::optional<RatchetTree> tree;
    if (!v.at("ratchet_tree").is_null()) tree = tls::decode<RatchetTree>(hex_field(v, "ratchet_tree")).value();
    std::map<Bytes, Bytes> external;
    for (const auto& p : v.at("external_psks")) external[hex_field(p, "psk_id")] = hex_field(p, "psk");
    PskLookup lookup = [external](const PreSharedKeyId& id) -> ErrorOr<SecretBytes> {
      const auto* ext = std::get_if<ExternalPsk>(&id.psk);
      if (ext == nullptr) return Error::not_found("no resumption PSKs in this test");
      auto it = external.find(ext->psk_id);
      if (it == external.end()) return Error::not_found("unknown external PSK");
      return SecretBytes::copy_of(it->second);
    };

    auto state = State::join(welcome, bundle, tree, accept_any_credential, lookup);
    EXPECT_TRUE(state.has_value()) << "join: " << state.error().to_string();
    ++scenarios;
    if (!state) continue;
    EXPECT_EQ(to_hex(state->epoch_authenticator()), v.at("initial_epoch_authenticator").get<std::string>());
    int epoch = 0;
    for (const auto& e : v.at("epochs")) {
      SCOPED_TRACE("epoch " + std::to_string(epoch++));
      bool ok = true;
      for (const auto& p : e.at("proposals")) {
        auto handled = state->handle_proposal(message_of(p));
        EXPECT_TRUE(handled.has_value()) << "proposal: " << handled.error().to_string();
        ok = ok && handled.has_value();
      }
      if (!ok) break;
      auto next = state->handle_commit(message_of(e.at("commit")));
      EXPECT_TRUE(next.has_value()) << "commit: " << next.error().to_string();
      if (!next) break;
      state = next.release_value();
      EXPECT_EQ(to_hex(state->epoch_authenticator()), e.at("epoch_authenticator").get<std::string>());
      ++epochs;
    }
  }
  return epochs;
}

TEST(PassiveClientVectors, Welcome) {
  PMOS_LOAD_VECTORS(vectors, "mls/passive-client-welcome.json");
  int scenarios = 0;
  follow(vectors, scenarios);
  ASSERT_GT(scenarios, 0);
  std::printf("passive-client-welcome: %d scenarios checked\n", scenarios);
}

TEST(PassiveClientVectors, HandlingCommit) {
  PMOS_LOAD_VECTORS(vectors, "mls/passive-client-handling-commit.json");
  int scenarios = 0;
  int epochs = follow(vectors, scenarios);
  ASSERT_GT(epochs, 0);
  std::printf("passive-client-handling-commit: %d scenarios, %d epochs checked\n", scenarios, epochs);
}

TEST(PassiveClientVectors, Random) {
  PMOS_LOAD_VECTORS(vectors, "mls/passive-client-random.json");
  int scenarios = 0;
  int epochs = follow(vectors, scenarios);
  ASSERT_GT(epochs, 0);
  std::printf("passive-client-random: %d scenarios, %d epochs checked\n", scenarios, epochs);
}

}  // namespace
}  // namespace pmos::mls

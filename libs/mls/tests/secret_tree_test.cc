// mls/secret-tree.json plus the forward-secrecy and window rules of §9.
#include "pmos/mls/secret_tree.h"

#include <gtest/gtest.h>

#include "pmos/testing/vectors.h"

namespace pmos::mls {
namespace {

using testing::hex_field;

TEST(SecretTreeVectors, EveryLeafGenerationAndSenderDataKey) {
  PMOS_LOAD_VECTORS(vectors, "mls/secret-tree.json");
  int keys = 0;
  for (const auto& v : vectors) {
    auto suite = crypto::CipherSuite::from_id(v.at("cipher_suite").get<std::uint16_t>()).value();
    SCOPED_TRACE("cipher suite " + std::to_string(suite.id()));
    const auto& sd = v.at("sender_data");
    auto sender_key =
        sender_data_key(suite, hex_field(sd, "sender_data_secret"), hex_field(sd, "ciphertext"));
    ASSERT_TRUE(sender_key.has_value());
    EXPECT_EQ(to_hex(sender_key->key), sd.at("key").get<std::string>());
    EXPECT_EQ(to_hex(sender_key->nonce), sd.at("nonce").get<std::string>());

    const auto& leaves = v.at("leaves");
    SecretTree tree(suite, LeafCount(static_cast<std::uint32_t>(leaves.size())),
                    hex_field(v, "encryption_secret"), SecretTreeLimits{1000, 100000});
    for (std::uint32_t leaf = 0; leaf < leaves.size(); ++leaf) {
      for (const auto& g : leaves[leaf]) {
        auto generation = g.at("generation").get<std::uint32_t>();
        SCOPED_TRACE("leaf " + std::to_string(leaf) + " generation " + std::to_string(generation));
        auto handshake = tree.get(LeafIndex(leaf), RatchetType::kHandshake, generation);
        ASSERT_TRUE(handshake.has_value()) << handshake.error().to_string();
        EXPECT_EQ(to_hex(handshake->key), g.at("handshake_key").get<std::string>());
        EXPECT_EQ(to_hex(handshake->nonce), g.at("handshake_nonce").get<std::string>());
        auto application = tree.get(LeafIndex(leaf), RatchetType::kApplication, generation);
        ASSERT_TRUE(application.has_value()) << application.error().to_string();
        EXPECT_EQ(to_hex(application->key), g.at("application_key").get<std::string>());
        EXPECT_EQ(to_hex(application->nonce), g.at("application_nonce").get<std::string>());
        keys += 2;
      }
    }
  }
  ASSERT_GT(keys, 0);
  std::printf("secret-tree: %d keys over %zu trees checked\n", keys, vectors.size());
}

crypto::CipherSuite suite1() { return crypto::CipherSuite::from_id(1).value(); }

TEST(SecretTree, SenderAndReceiverAgree) {
  Bytes secret(32, 9);
  SecretTree sender(suite1(), LeafCount(5), secret);
  SecretTree receiver(suite1(), LeafCount(5), secret);
  for (int i = 0; i < 3; ++i) {
    MessageKey sent = sender.next(LeafIndex(3), RatchetType::kApplication).value();
    EXPECT_EQ(sent.generation, static_cast<std::uint32_t>(i));
    MessageKey got = receiver.get(LeafIndex(3), RatchetType::kApplication, sent.generation).value();
    EXPECT_TRUE(got.key == sent.key);
    EXPECT_TRUE(got.nonce == sent.nonce);
  }
}

TEST(SecretTree, KeysAreHandedOutOnceOutOfOrderWithinTheWindow) {
  SecretTree tree(suite1(), LeafCount(2), Bytes(32, 1), SecretTreeLimits{5, 50});
  ASSERT_TRUE(tree.get(LeafIndex(1), RatchetType::kApplication, 3).has_value());
  // 0..2 were skipped and are still available, once each.
  EXPECT_TRUE(tree.get(LeafIndex(1), RatchetType::kApplication, 1).has_value());
  auto replay = tree.get(LeafIndex(1), RatchetType::kApplication, 1);
  ASSERT_FALSE(replay.has_value());
  EXPECT_STREQ(replay.error().message(),
               "secret tree: key of this generation was already used or is outside the window");
  auto again = tree.get(LeafIndex(1), RatchetType::kApplication, 3);
  EXPECT_FALSE(again.has_value());
  // Moving to 10 pushes 0 and 2 (more than 5 behind) out of the window.
  ASSERT_TRUE(tree.get(LeafIndex(1), RatchetType::kApplication, 10).has_value());
  EXPECT_FALSE(tree.get(LeafIndex(1), RatchetType::kApplication, 2).has_value());
  EXPECT_TRUE(tree.get(LeafIndex(1), RatchetType::kApplication, 7).has_value());
}

TEST(SecretTree, GenerationTooFarAheadIsRefused) {
  SecretTree tree(suite1(), LeafCount(2), Bytes(32, 1), SecretTreeLimits{5, 50});
  auto far = tree.get(LeafIndex(0), RatchetType::kHandshake, 51);
  ASSERT_FALSE(far.has_value());
  EXPECT_STREQ(far.error().message(), "secret tree: generation is too far ahead");
  EXPECT_TRUE(tree.get(LeafIndex(0), RatchetType::kHandshake, 50).has_value());
}

TEST(SecretTree, LeafBeyondTheTreeIsRefused) {
  SecretTree tree(suite1(), LeafCount(3), Bytes(32, 1));
  EXPECT_FALSE(tree.next(LeafIndex(3), RatchetType::kHandshake).has_value());
}

TEST(SecretTree, RatchetsAreIndependentPerLeafAndType) {
  SecretTree tree(suite1(), LeafCount(4), Bytes(32, 2));
  MessageKey a = tree.next(LeafIndex(0), RatchetType::kApplication).value();
  MessageKey h = tree.next(LeafIndex(0), RatchetType::kHandshake).value();
  MessageKey b = tree.next(LeafIndex(1), RatchetType::kApplication).value();
  EXPECT_FALSE(a.key == h.key);
  EXPECT_FALSE(a.key == b.key);
  EXPECT_EQ(h.generation, 0u);
}

}  // namespace
}  // namespace pmos::mls

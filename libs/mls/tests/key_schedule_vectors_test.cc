// mls/key-schedule.json and mls/psk_secret.json: the key schedule of RFC 9420
// §8 over chains of epochs, for every cipher suite in the vectors.
#include <gtest/gtest.h>

#include "pmos/crypto/cipher_suite.h"
#include "pmos/mls/group_context.h"
#include "pmos/mls/key_schedule.h"
#include "pmos/mls/proposal.h"
#include "pmos/testing/vectors.h"

namespace pmos::mls {
namespace {

using testing::hex_field;

std::uint16_t suite_of(const nlohmann::json& v) {
  // The key-schedule vectors write the suite as a string, others as a number.
  const auto& field = v.at("cipher_suite");
  return field.is_string() ? static_cast<std::uint16_t>(std::stoi(field.get<std::string>()))
                           : field.get<std::uint16_t>();
}

TEST(KeyScheduleVectors, EveryEpochOfEverySuite) {
  PMOS_LOAD_VECTORS(vectors, "mls/key-schedule.json");
  int epochs = 0;
  for (const auto& v : vectors) {
    std::uint16_t id = suite_of(v);
    SCOPED_TRACE("cipher suite " + std::to_string(id));
    auto suite = crypto::CipherSuite::from_id(id).value();
    Bytes group_id = hex_field(v, "group_id");
    SecretBytes init_secret = SecretBytes::copy_of(hex_field(v, "initial_init_secret"));
    std::uint64_t epoch = 0;
    for (const auto& e : v.at("epochs")) {
      SCOPED_TRACE("epoch " + std::to_string(epoch));
      GroupContext context;
      context.cipher_suite = static_cast<CipherSuiteId>(id);
      context.group_id = group_id;
      context.epoch = epoch;
      context.tree_hash = hex_field(e, "tree_hash");
      context.confirmed_transcript_hash = hex_field(e, "confirmed_transcript_hash");
      Bytes encoded_context = tls::encode(context);
      EXPECT_EQ(to_hex(encoded_context), e.at("group_context").get<std::string>());

      auto s = EpochSecrets::derive(suite, init_secret, hex_field(e, "commit_secret"),
                                    hex_field(e, "psk_secret"), encoded_context);
      ASSERT_TRUE(s.has_value()) << s.error().to_string();
      EXPECT_EQ(to_hex(s->joiner_secret), e.at("joiner_secret").get<std::string>());
      EXPECT_EQ(to_hex(s->welcome_secret), e.at("welcome_secret").get<std::string>());
      EXPECT_EQ(to_hex(s->init_secret), e.at("init_secret").get<std::string>());
      EXPECT_EQ(to_hex(s->sender_data_secret), e.at("sender_data_secret").get<std::string>());
      EXPECT_EQ(to_hex(s->encryption_secret), e.at("encryption_secret").get<std::string>());
      EXPECT_EQ(to_hex(s->exporter_secret), e.at("exporter_secret").get<std::string>());
      EXPECT_EQ(to_hex(s->epoch_authenticator), e.at("epoch_authenticator").get<std::string>());
      EXPECT_EQ(to_hex(s->external_secret), e.at("external_secret").get<std::string>());
      EXPECT_EQ(to_hex(s->confirmation_key), e.at("confirmation_key").get<std::string>());
      EXPECT_EQ(to_hex(s->membership_key), e.at("membership_key").get<std::string>());
      EXPECT_EQ(to_hex(s->resumption_psk), e.at("resumption_psk").get<std::string>());
      EXPECT_EQ(to_hex(s->external_key_pair(suite).value().public_key().bytes()),
                e.at("external_pub").get<std::string>());

      const auto& exporter = e.at("exporter");
      auto exported =
          s->export_secret(suite, exporter.at("label").get<std::string>(), hex_field(exporter, "context"),
                           exporter.at("length").get<std::uint16_t>());
      ASSERT_TRUE(exported.has_value());
      EXPECT_EQ(to_hex(*exported), exporter.at("secret").get<std::string>());

      // A joiner with only the joiner secret reaches the same epoch.
      auto joined =
          EpochSecrets::from_joiner(suite, s->joiner_secret, hex_field(e, "psk_secret"), encoded_context);
      ASSERT_TRUE(joined.has_value());
      EXPECT_TRUE(joined->epoch_authenticator == s->epoch_authenticator);
      EXPECT_TRUE(welcome_secret_from_joiner(suite, s->joiner_secret, hex_field(e, "psk_secret")).value() ==
                  s->welcome_secret);

      init_secret = std::move(s->init_secret);
      ++epoch;
      ++epochs;
    }
  }
  ASSERT_GT(epochs, 0);
  std::printf("key-schedule: %d epochs over %zu suites checked\n", epochs, vectors.size());
}

TEST(PskSecretVectors, EveryCase) {
  PMOS_LOAD_VECTORS(vectors, "mls/psk_secret.json");
  int cases = 0;
  for (const auto& v : vectors) {
    auto suite = crypto::CipherSuite::from_id(suite_of(v)).value();
    std::vector<Bytes> ids, keys;
    for (const auto& p : v.at("psks")) {
      PreSharedKeyId id{ExternalPsk{hex_field(p, "psk_id")}, hex_field(p, "psk_nonce")};
      ids.push_back(tls::encode(id));
      keys.push_back(hex_field(p, "psk"));
    }
    std::vector<PskInput> inputs;
    for (std::size_t i = 0; i < ids.size(); ++i) inputs.push_back({ids[i], keys[i]});
    auto secret = psk_secret(suite, inputs);
    ASSERT_TRUE(secret.has_value());
    EXPECT_EQ(to_hex(*secret), v.at("psk_secret").get<std::string>());
    ++cases;
  }
  ASSERT_GT(cases, 0);
  std::printf("psk_secret: %d cases checked\n", cases);
}

TEST(KeySchedule, WrongSecretLengthsAreErrors) {
  auto suite = crypto::CipherSuite::from_id(1).value();
  Bytes nh(32, 0), short_secret(31, 0);
  EXPECT_TRUE(EpochSecrets::derive(suite, nh, nh, nh, {}).has_value());
  EXPECT_FALSE(EpochSecrets::derive(suite, short_secret, nh, nh, {}).has_value());
  EXPECT_FALSE(EpochSecrets::derive(suite, nh, short_secret, nh, {}).has_value());
  EXPECT_FALSE(EpochSecrets::derive(suite, nh, nh, short_secret, {}).has_value());
  EXPECT_FALSE(EpochSecrets::from_joiner(suite, short_secret, nh, {}).has_value());
}

}  // namespace
}  // namespace pmos::mls

#include "pmos/chat/store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "pmos/base/file.h"
#include "pmos/crypto/random.h"

namespace pmos::chat {
namespace {

// Cheap Argon2id for tests; the cost is stored beside the database.
constexpr crypto::Argon2Params kFast{1, 8192, 1};

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/chat-store-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  bool files_contain(BytesView needle) {
    for (const auto& path : Store::files(dir_)) {
      auto data = read_file(path);
      if (data && std::search(data->begin(), data->end(), needle.begin(), needle.end()) != data->end()) return true;
    }
    return false;
  }

  std::string dir_;
};

TEST_F(StoreTest, ReopensWithThePasscode) {
  {
    auto store = Store::open(dir_, "1234", true, kFast);
    ASSERT_TRUE(store.has_value()) << store.error().to_string();
    ASSERT_TRUE((*store)->set("k", as_bytes("v")).has_value());
  }
  auto store = Store::open(dir_, "1234", false);
  ASSERT_TRUE(store.has_value()) << store.error().to_string();
  auto value = (*store)->get("k");
  ASSERT_TRUE(value.has_value());
  ASSERT_TRUE(value->has_value());
  EXPECT_EQ(as_string(**value), "v");
}

TEST_F(StoreTest, WrongPasscodeIsAClearError) {
  { ASSERT_TRUE(Store::open(dir_, "right", true, kFast).has_value()); }
  auto store = Store::open(dir_, "wrong", false);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().category(), ErrorCategory::kCrypto);
  EXPECT_NE(std::string(store.error().message()).find("wrong passcode"), std::string::npos);
  // And the right one still works: nothing was damaged.
  EXPECT_TRUE(Store::open(dir_, "right", false).has_value());
}

TEST_F(StoreTest, MissingStoreWithoutCreate) {
  auto store = Store::open(dir_ + "/none", "x", false);
  ASSERT_FALSE(store.has_value());
  EXPECT_EQ(store.error().category(), ErrorCategory::kNotFound);
}

TEST_F(StoreTest, NothingSecretOnDiskInTheClear) {
  const std::string plaintext = "the-eagle-lands-at-midnight-0417";
  Bytes key = crypto::random_bytes(32);
  {
    auto store = Store::open(dir_, "pass", true, kFast).value();
    ASSERT_TRUE(store->set("device_key", key).has_value());
    ASSERT_TRUE(store->put_conversation({Bytes(16, 1), "unit", 0, "active", 1, 1, false}).has_value());
    ASSERT_TRUE(store->put_group_state(Bytes(16, 1), key).has_value());
    MessageRow row;
    row.id = Bytes(16, 2);
    row.group_id = Bytes(16, 1);
    row.text = plaintext;
    ASSERT_TRUE(store->insert_message(row).value());
    // The known strings are really in there, readable through the store.
    ASSERT_EQ(store->message(row.id).value()->text, plaintext);
  }
  EXPECT_FALSE(Store::files(dir_).empty());
  EXPECT_FALSE(files_contain(as_bytes(plaintext)));
  EXPECT_FALSE(files_contain(key));
  EXPECT_FALSE(files_contain(as_bytes("SQLite format 3")));
}

TEST_F(StoreTest, MessagesReceiptsAndExpiry) {
  auto store = Store::open(dir_, "pass", true, kFast).value();
  Bytes group(16, 9);
  ASSERT_TRUE(store->put_conversation({group, "g", 30, "active", 1, 1, false}).has_value());
  MessageRow row;
  row.id = Bytes(16, 1);
  row.group_id = group;
  row.text = "one";
  row.received_ms = 10;
  row.expires_ms = 1000;
  EXPECT_TRUE(store->insert_message(row).value());
  EXPECT_FALSE(store->insert_message(row).value()) << "a duplicate is refused";
  row.id = Bytes(16, 2);
  row.text = "two";
  row.received_ms = 11;
  row.expires_ms = 0;
  EXPECT_TRUE(store->insert_message(row).value());
  ASSERT_TRUE(store->add_receipt(Bytes(16, 1), "dev-b", false).has_value());
  ASSERT_TRUE(store->add_receipt(Bytes(16, 1), "dev-b", true).has_value());
  auto first = store->message(Bytes(16, 1)).value();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->delivered_to, std::vector<std::string>{"dev-b"});
  EXPECT_EQ(first->read_by, std::vector<std::string>{"dev-b"});
  EXPECT_EQ(store->messages(group).value().size(), 2u);
  EXPECT_EQ(store->delete_expired(999).value(), 0u);
  EXPECT_EQ(store->delete_expired(1000).value(), 1u);
  auto left = store->messages(group).value();
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].text, "two");
}

TEST_F(StoreTest, GroupStatesAdvance) {
  auto store = Store::open(dir_, "pass", true, kFast).value();
  Bytes group(16, 3);
  EXPECT_FALSE(store->put_group_state(group, as_bytes("s0")).has_value()) << "no conversation yet";
  ASSERT_TRUE(store->put_conversation({group, "g", 0, "active", 1, 1, false}).has_value());
  ASSERT_TRUE(store->put_group_state(group, as_bytes("s0")).has_value());
  ASSERT_TRUE(store->advance_group_state(group, as_bytes("s1")).has_value());
  EXPECT_EQ(as_string(store->group_state(group).value()->view()), "s1");
  EXPECT_EQ(as_string(store->group_state(group, true).value()->view()), "s0");
  ASSERT_TRUE(store->clear_group_state(group).has_value());
  EXPECT_FALSE(store->group_state(group).value().has_value());
}

TEST_F(StoreTest, OutboxKeepsOrderAndTransactionsRollBack) {
  auto store = Store::open(dir_, "pass", true, kFast).value();
  ASSERT_TRUE(store->put_outbox({Bytes(16, 2), Bytes(16, 9), to_bytes("b"), {}, 0}).has_value());
  ASSERT_TRUE(store->put_outbox({Bytes(16, 1), Bytes(16, 9), to_bytes("a"), {}, 0}).has_value());
  ASSERT_TRUE(store->put_outbox({Bytes(16, 2), Bytes(16, 9), to_bytes("b"), to_bytes("mls"), 4}).has_value());
  auto rows = store->outbox().value();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].client_message_id, Bytes(16, 2));
  EXPECT_EQ(as_string(rows[0].mls), "mls");
  EXPECT_EQ(rows[0].epoch, 4u);
  ASSERT_TRUE(store->begin().has_value());
  ASSERT_TRUE(store->delete_outbox(Bytes(16, 2)).has_value());
  store->rollback();
  EXPECT_EQ(store->outbox().value().size(), 2u);
  ASSERT_TRUE(store->delete_outbox(Bytes(16, 2)).has_value());
  EXPECT_EQ(store->outbox().value().size(), 1u);
}

}  // namespace
}  // namespace pmos::chat

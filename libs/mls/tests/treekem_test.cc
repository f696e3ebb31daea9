// mls/treekem.json: private states consistent with the tree, every update
// path applied by every other member, and our own paths applied likewise.
#include "pmos/mls/treekem.h"

#include <gtest/gtest.h>

#include "pmos/mls/group_context.h"
#include "pmos/testing/vectors.h"

namespace pmos::mls {
namespace {

using testing::hex_field;

std::uint64_t u64_of(const nlohmann::json& field) {
  return field.is_string() ? std::stoull(field.get<std::string>()) : field.get<std::uint64_t>();
}

struct Member {
  PrivateTree tree;
  crypto::PrivateKey signature_key;
};

TEST(TreeKemVectors, EveryPathEveryReceiver) {
  PMOS_LOAD_VECTORS(vectors, "mls/treekem.json");
  int cases = 0, paths = 0, receptions = 0;
  for (const auto& v : vectors) {
    auto suite = crypto::CipherSuite::from_id(static_cast<std::uint16_t>(u64_of(v.at("cipher_suite")))).value();
    SCOPED_TRACE("case " + std::to_string(cases) + ", suite " + std::to_string(suite.id()));
    Bytes group_id = hex_field(v, "group_id");
    auto base_tree = PublicTree::from_wire(suite, tls::decode<RatchetTree>(hex_field(v, "ratchet_tree")).value());
    ASSERT_TRUE(base_tree.has_value()) << base_tree.error().to_string();

    std::map<std::uint32_t, Member> members;
    for (const auto& p : v.at("leaves_private")) {
      auto index = static_cast<std::uint32_t>(u64_of(p.at("index")));
      PrivateTree tree(LeafIndex(index), suite.kem().private_key(hex_field(p, "encryption_priv")).value());
      for (const auto& ps : p.at("path_secrets")) {
        ASSERT_TRUE(tree.set_path_secret(suite, NodeIndex(static_cast<std::uint32_t>(u64_of(ps.at("node")))),
                                         hex_field(ps, "path_secret"))
                        .has_value());
      }
      auto consistent = tree.check_consistent(*base_tree);
      ASSERT_TRUE(consistent.has_value()) << consistent.error().to_string();
      members.emplace(index, Member{std::move(tree), suite.signature().private_key(hex_field(p, "signature_priv")).value()});
    }

    GroupContext context;
    context.cipher_suite = static_cast<CipherSuiteId>(suite.id());
    context.group_id = group_id;
    context.epoch = u64_of(v.at("epoch"));
    context.confirmed_transcript_hash = hex_field(v, "confirmed_transcript_hash");
    GroupContextFor context_for = [&](BytesView tree_hash) {
      GroupContext c = context;
      c.tree_hash = to_bytes(tree_hash);
      return tls::encode(c);
    };

    for (const auto& u : v.at("update_paths")) {
      LeafIndex sender(static_cast<std::uint32_t>(u64_of(u.at("sender"))));
      auto path = tls::decode<UpdatePath>(hex_field(u, "update_path"));
      ASSERT_TRUE(path.has_value()) << path.error().to_string();
      const auto& secrets = u.at("path_secrets");
      for (auto& [index, member] : members) {
        if (index == sender.value) continue;
        PublicTree tree = *base_tree;
        PrivateTree private_tree = member.tree;
        auto applied = apply_update_path(suite, tree, private_tree, sender, *path, group_id, {}, context_for);
        ASSERT_TRUE(applied.has_value()) << "receiver " << index << ": " << applied.error().to_string();
        EXPECT_EQ(to_hex(applied->path_secret), secrets.at(index).get<std::string>());
        EXPECT_EQ(to_hex(applied->commit_secret), u.at("commit_secret").get<std::string>());
        EXPECT_EQ(to_hex(tree.root_tree_hash()), u.at("tree_hash_after").get<std::string>());
        EXPECT_TRUE(private_tree.check_consistent(tree).has_value());
        ++receptions;
      }

      // Our own path from the same sender reaches every other member.
      PublicTree sender_tree = *base_tree;
      PrivateTree sender_private = members.at(sender.value).tree;
      auto created = create_update_path(suite, sender_tree, sender_private, *base_tree->leaf(sender),
                                        members.at(sender.value).signature_key, group_id, {}, context_for);
      ASSERT_TRUE(created.has_value()) << created.error().to_string();
      EXPECT_TRUE(sender_private.check_consistent(sender_tree).has_value());
      EXPECT_TRUE(sender_tree.verify_parent_hashes().has_value());
      for (auto& [index, member] : members) {
        if (index == sender.value) continue;
        PublicTree tree = *base_tree;
        PrivateTree private_tree = member.tree;
        auto applied = apply_update_path(suite, tree, private_tree, sender, created->path, group_id, {}, context_for);
        ASSERT_TRUE(applied.has_value()) << "receiver " << index << ": " << applied.error().to_string();
        EXPECT_TRUE(applied->commit_secret == created->commit_secret);
        EXPECT_EQ(tree.root_tree_hash(), sender_tree.root_tree_hash());
      }
      ++paths;
    }
    ++cases;
  }
  ASSERT_GT(cases, 0);
  std::printf("treekem: %d cases, %d update paths, %d receptions checked\n", cases, paths, receptions);
}

}  // namespace
}  // namespace pmos::mls

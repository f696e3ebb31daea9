// mls/tree-validation.json and mls/tree-operations.json, then malformed trees.
#include "pmos/mls/public_tree.h"

#include <gtest/gtest.h>

#include "pmos/mls/proposal.h"
#include "pmos/testing/vectors.h"

namespace pmos::mls {
namespace {

using testing::hex_field;

std::uint32_t u32_of(const nlohmann::json& field) {
  return field.is_string() ? static_cast<std::uint32_t>(std::stoul(field.get<std::string>()))
                           : field.get<std::uint32_t>();
}

crypto::CipherSuite suite_of(const nlohmann::json& v) {
  return crypto::CipherSuite::from_id(static_cast<std::uint16_t>(u32_of(v.at("cipher_suite")))).value();
}

TEST(TreeValidationVectors, ResolutionsHashesParentHashesSignatures) {
  PMOS_LOAD_VECTORS(vectors, "mls/tree-validation.json");
  int trees = 0, nodes = 0;
  for (const auto& v : vectors) {
    auto suite = suite_of(v);
    SCOPED_TRACE("tree " + std::to_string(trees) + ", cipher suite " + std::to_string(suite.id()));
    auto wire = tls::decode<RatchetTree>(hex_field(v, "tree"));
    ASSERT_TRUE(wire.has_value()) << wire.error().to_string();
    auto tree = PublicTree::from_wire(suite, *wire);
    ASSERT_TRUE(tree.has_value()) << tree.error().to_string();
    const auto& resolutions = v.at("resolutions");
    const auto& hashes = v.at("tree_hashes");
    ASSERT_EQ(resolutions.size(), node_width(tree->leaf_count()));
    for (std::uint32_t i = 0; i < resolutions.size(); ++i) {
      std::vector<std::uint32_t> expected = resolutions[i].get<std::vector<std::uint32_t>>();
      std::vector<std::uint32_t> ours;
      for (NodeIndex n : tree->resolution(NodeIndex(i))) ours.push_back(n.value);
      EXPECT_EQ(ours, expected) << "node " << i;
      EXPECT_EQ(to_hex(tree->tree_hash(NodeIndex(i))), hashes[i].get<std::string>()) << "node " << i;
      ++nodes;
    }
    auto valid = tree->validate(hex_field(v, "group_id"));
    EXPECT_TRUE(valid.has_value()) << valid.error().to_string();
    EXPECT_EQ(tree->to_wire(), *wire);
    ++trees;
  }
  ASSERT_GT(trees, 0);
  std::printf("tree-validation: %d trees, %d nodes checked\n", trees, nodes);
}

TEST(TreeOperationsVectors, AddUpdateRemove) {
  PMOS_LOAD_VECTORS(vectors, "mls/tree-operations.json");
  int checked = 0;
  for (const auto& v : vectors) {
    auto suite = suite_of(v);
    SCOPED_TRACE("case " + std::to_string(checked));
    auto tree = PublicTree::from_wire(suite, tls::decode<RatchetTree>(hex_field(v, "tree_before")).value()).value();
    EXPECT_EQ(to_hex(tree.root_tree_hash()), v.at("tree_hash_before").get<std::string>());
    auto proposal = tls::decode<Proposal>(hex_field(v, "proposal"));
    ASSERT_TRUE(proposal.has_value()) << proposal.error().to_string();
    LeafIndex sender(u32_of(v.at("proposal_sender")));
    if (const auto* add = std::get_if<Add>(&proposal->value)) {
      tree.add_leaf(add->key_package.leaf_node);
    } else if (const auto* update = std::get_if<Update>(&proposal->value)) {
      ASSERT_TRUE(tree.update_leaf(sender, update->leaf_node).has_value());
    } else if (const auto* remove = std::get_if<Remove>(&proposal->value)) {
      ASSERT_TRUE(tree.remove_leaf(remove->removed).has_value());
    } else {
      FAIL() << "unexpected proposal type";
    }
    EXPECT_EQ(to_hex(tls::encode(tree.to_wire())), v.at("tree_after").get<std::string>());
    EXPECT_EQ(to_hex(tree.root_tree_hash()), v.at("tree_hash_after").get<std::string>());
    ++checked;
  }
  ASSERT_GT(checked, 0);
  std::printf("tree-operations: %d cases checked\n", checked);
}

class MalformedTrees : public ::testing::Test {
 protected:
  void SetUp() override {
    PMOS_LOAD_VECTORS(vectors, "mls/tree-validation.json");
    // The largest tree of suite 1 in the vectors: several members, parents.
    for (const auto& v : vectors) {
      if (u32_of(v.at("cipher_suite")) != 1) continue;
      auto wire = tls::decode<RatchetTree>(hex_field(v, "tree")).value();
      if (wire.nodes.size() > wire_.nodes.size()) {
        wire_ = wire;
        group_id_ = hex_field(v, "group_id");
      }
    }
    ASSERT_GT(wire_.nodes.size(), 3u);
  }
  crypto::CipherSuite suite_ = crypto::CipherSuite::from_id(1).value();
  RatchetTree wire_;
  Bytes group_id_;
};

TEST_F(MalformedTrees, TrailingBlankAndEmptyAreRefused) {
  RatchetTree tree = wire_;
  tree.nodes.push_back(std::nullopt);
  auto r = PublicTree::from_wire(suite_, tree);
  ASSERT_FALSE(r.has_value());
  EXPECT_STREQ(r.error().message(), "ratchet tree ends with a blank node");
  EXPECT_FALSE(PublicTree::from_wire(suite_, RatchetTree{}).has_value());
}

TEST_F(MalformedTrees, NodeKindsMustMatchPositions) {
  RatchetTree tree = wire_;
  std::swap(tree.nodes[0], tree.nodes[1]);
  if (!tree.nodes[0] && !tree.nodes[1]) GTEST_SKIP() << "both blank";
  auto r = PublicTree::from_wire(suite_, tree);
  ASSERT_FALSE(r.has_value());
  EXPECT_STREQ(r.error().message(), "ratchet tree has a leaf where a parent belongs, or the reverse");
}

TEST_F(MalformedTrees, TamperedParentKeyBreaksParentHashes) {
  auto tree = PublicTree::from_wire(suite_, wire_).value();
  ASSERT_TRUE(tree.validate(group_id_).has_value());
  RatchetTree tampered = wire_;
  bool changed = false;
  for (auto& node : tampered.nodes) {
    if (node && node->node_type() == NodeType::kParent) {
      std::get<ParentNode>(node->value).encryption_key.back() ^= 1;
      changed = true;
      break;
    }
  }
  ASSERT_TRUE(changed);
  auto bad = PublicTree::from_wire(suite_, tampered).value();
  auto r = bad.verify_parent_hashes();
  ASSERT_FALSE(r.has_value());
  EXPECT_STREQ(r.error().message(), "ratchet tree parent node is not parent-hash valid");
}

TEST_F(MalformedTrees, TamperedLeafFailsItsSignature) {
  RatchetTree tampered = wire_;
  std::get<LeafNode>(tampered.nodes[0]->value).extensions.extensions.push_back(Extension{ExtensionType(0x0a0a), {}});
  auto bad = PublicTree::from_wire(suite_, tampered).value();
  auto r = bad.verify_leaf_signatures(group_id_);
  ASSERT_FALSE(r.has_value());
  EXPECT_STREQ(r.error().message(), "ratchet tree leaf signature does not verify");
  // And signatures bind the group: another group id fails too.
  auto good = PublicTree::from_wire(suite_, wire_).value();
  EXPECT_FALSE(good.verify_leaf_signatures(to_bytes("another group")).has_value());
}

TEST_F(MalformedTrees, RemoveTruncatesAndAddReusesTheLeftmostBlank) {
  auto tree = PublicTree::from_wire(suite_, wire_).value();
  std::uint32_t before = tree.leaf_count().value;
  LeafIndex last(before - 1);
  while (tree.leaf(last) == nullptr) last = LeafIndex(last.value - 1);
  LeafNode node = *tree.leaf(last);
  ASSERT_TRUE(tree.remove_leaf(last).has_value());
  EXPECT_FALSE(tree.remove_leaf(last).has_value());  // already blank
  EXPECT_LE(tree.leaf_count().value, before);
  LeafIndex added = tree.add_leaf(node);
  EXPECT_LE(added.value, last.value);
}

}  // namespace
}  // namespace pmos::mls

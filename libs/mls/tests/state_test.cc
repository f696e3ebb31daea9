// Groups made and run by PMOS itself: create, add, join, talk, remove,
// update, encrypted commits, and what goes wrong when messages are bad.
#include "pmos/mls/state.h"

#include "pmos/mls/message_protection.h"

#include <functional>
#include <random>

#include <gtest/gtest.h>

namespace pmos::mls {

// Forges what a member could send but an honest one would not: a message
// edited after framing, then re-signed and re-tagged with the sender's keys.
struct StateTestAccess {
  // `message`, a PublicMessage that `sender` (in the epoch it was sent in)
  // framed, with its content edited by `edit`.
  static MlsMessage reframe(const State& sender, const MlsMessage& message,
                            const std::function<void(AuthenticatedContent&)>& edit) {
    const auto& pub = std::get<PublicMessage>(message.message);
    AuthenticatedContent content =
        unprotect_public(sender.suite_, pub, sender.group_context_, sender.secrets_.membership_key).value();
    edit(content);
    content.auth.signature = sign_content(sender.suite_, content.wire_format, content.content,
                                          sender.group_context_, sender.signature_key_).value();
    return MlsMessage{ProtocolVersion::kMls10,
                      protect_public(sender.suite_, content, sender.group_context_, sender.secrets_.membership_key).value()};
  }
};

namespace {

class Client {
 public:
  Client(const crypto::CipherSuite& suite, std::string name) : suite_(suite), name_(std::move(name)) {}

  KeyPackageBundle key_package() {
    auto signer = suite_.signature().generate().value();
    return KeyPackageBundle::create(suite_, Credential{BasicCredential{to_bytes(name_)}}, signer).value();
  }

 private:
  crypto::CipherSuite suite_;
  std::string name_;
};

class StateTest : public ::testing::TestWithParam<std::uint16_t> {
 protected:
  crypto::CipherSuite suite_ = crypto::CipherSuite::from_id(GetParam()).value();

  KeyPackageBundle bundle(const std::string& name) { return Client(suite_, name).key_package(); }

  // A group of `n` members built by member 0 adding everyone in one commit.
  std::vector<State> group(std::size_t n) {
    std::vector<State> states;
    states.push_back(State::create(suite_, to_bytes("group"), bundle("m0")).value());
    std::vector<KeyPackageBundle> joiners;
    State::CommitOptions options;
    for (std::size_t i = 1; i < n; ++i) {
      joiners.push_back(bundle("m" + std::to_string(i)));
      options.proposals.push_back(Proposal{Add{joiners.back().key_package}});
    }
    if (n == 1) return states;
    auto result = states[0].commit(options).value();
    states[0] = std::move(result.next);
    const Welcome& welcome = std::get<Welcome>(result.welcome->message);
    for (const auto& j : joiners) states.push_back(State::join(welcome, j).value());
    return states;
  }

  static void expect_agreement(const std::vector<State>& states) {
    for (const auto& s : states) {
      EXPECT_EQ(s.epoch(), states[0].epoch());
      EXPECT_EQ(to_hex(s.epoch_authenticator()), to_hex(states[0].epoch_authenticator()));
      EXPECT_EQ(s.tree().root_tree_hash(), states[0].tree().root_tree_hash());
    }
  }
};

TEST_P(StateTest, CreateAddJoinAndTalk) {
  auto states = group(3);
  expect_agreement(states);
  EXPECT_EQ(states[0].roster().size(), 3u);
  auto message = states[1].protect(to_bytes("unit 7 to the bridge"), to_bytes("hdr")).value();
  for (std::size_t i : {0u, 2u}) {
    auto received = states[i].unprotect(message).value();
    EXPECT_EQ(received.kind, Received::Kind::kApplication);
    EXPECT_EQ(received.sender, states[1].own_leaf());
    EXPECT_EQ(received.application_data, to_bytes("unit 7 to the bridge"));
    EXPECT_EQ(received.authenticated_data, to_bytes("hdr"));
  }
  // A second delivery of the same message is a replay.
  EXPECT_FALSE(states[0].unprotect(message).has_value());
  EXPECT_TRUE(states[0].export_secret("chat", {}, 32).value() == states[2].export_secret("chat", {}, 32).value());
}

TEST_P(StateTest, RemoveUpdateAndEncryptedCommits) {
  auto states = group(4);
  // Member 1 removes member 3, encrypted; everyone else follows.
  State::CommitOptions remove;
  remove.proposals.push_back(Proposal{Remove{states[3].own_leaf()}});
  remove.encrypt = true;
  auto result = states[1].commit(remove).value();
  auto removed = states[3].handle_commit(result.commit);
  ASSERT_FALSE(removed.has_value());
  EXPECT_STREQ(removed.error().message(), "this member was removed from the group by the commit");
  std::vector<State> next;
  next.push_back(states[0].handle_commit(result.commit).value());
  next.push_back(std::move(result.next));
  next.push_back(states[2].handle_commit(result.commit).value());
  expect_agreement(next);
  EXPECT_EQ(next[0].roster().size(), 3u);

  // An empty commit is a self-update with a path (post-compromise security).
  auto update = next[2].commit({}).value();
  next[0] = next[0].handle_commit(update.commit).value();
  next[1] = next[1].handle_commit(update.commit).value();
  next[2] = std::move(update.next);
  expect_agreement(next);
}

TEST_P(StateTest, ProposalsByReference) {
  auto states = group(2);
  auto newcomer = bundle("m2");
  auto proposal = states[1].propose_add(newcomer.key_package).value();
  ASSERT_TRUE(states[0].handle_proposal(proposal).has_value());
  auto result = states[0].commit({}).value();
  ASSERT_TRUE(result.welcome.has_value());
  auto joined = State::join(std::get<Welcome>(result.welcome->message), newcomer).value();
  auto follower = states[1].handle_commit(result.commit).value();
  EXPECT_EQ(to_hex(joined.epoch_authenticator()), to_hex(result.next.epoch_authenticator()));
  EXPECT_EQ(to_hex(follower.epoch_authenticator()), to_hex(result.next.epoch_authenticator()));
}

TEST_P(StateTest, ConflictingCommitsForOneEpoch) {
  auto states = group(3);
  auto a = states[1].commit({}).value();
  auto b = states[2].commit({}).value();
  // The relay orders a first; member 0 follows a, and b (for the old epoch)
  // no longer applies to the new state.
  State after_a = states[0].handle_commit(a.commit).value();
  auto stale = after_a.handle_commit(b.commit);
  ASSERT_FALSE(stale.has_value());
  EXPECT_STREQ(stale.error().message(), "MLS message is for another epoch");
  // Member 2 drops its own commit and follows a.
  State recovered = states[2].handle_commit(a.commit).value();
  EXPECT_EQ(to_hex(recovered.epoch_authenticator()), to_hex(after_a.epoch_authenticator()));
}

TEST_P(StateTest, TamperedCommitIsRefusedAndChangesNothing) {
  auto states = group(2);
  auto result = states[0].commit({}).value();
  MlsMessage tampered = result.commit;
  auto& pub = std::get<PublicMessage>(tampered.message);
  (*pub.auth.confirmation_tag)[0] ^= 1;
  auto bad = states[1].handle_commit(tampered);
  ASSERT_FALSE(bad.has_value());
  // The membership tag covers the confirmation tag, so it fails first.
  EXPECT_EQ(bad.error().category(), ErrorCategory::kCrypto);
  // The untampered commit still applies: the failed one changed nothing.
  EXPECT_TRUE(states[1].handle_commit(result.commit).has_value());
}

TEST_P(StateTest, CredentialValidatorIsConsulted) {
  KeyPackageBundle creator = bundle("m0");
  auto only_m = [](const Credential& c, BytesView) -> ErrorOr<void> {
    const auto* basic = std::get_if<BasicCredential>(&c.value);
    if (basic == nullptr || basic->identity.empty() || basic->identity[0] != 'm')
      return Error::crypto("credential not issued by our CA");
    return {};
  };
  State state = State::create(suite_, to_bytes("g"), creator, {}, only_m).value();
  State::CommitOptions options;
  options.proposals.push_back(Proposal{Add{bundle("intruder").key_package}});
  auto refused = state.commit(options);
  ASSERT_FALSE(refused.has_value());
  EXPECT_STREQ(refused.error().message(), "credential not issued by our CA");
}

TEST_P(StateTest, UpdateProposalCommittedByAnotherMember) {
  auto states = group(3);
  Bytes old_key = states[1].tree().leaf(states[1].own_leaf())->encryption_key;
  auto proposal = states[1].propose_update().value();
  ASSERT_TRUE(states[0].handle_proposal(proposal).has_value());
  ASSERT_TRUE(states[2].handle_proposal(proposal).has_value());
  // The proposer restarts before the commit comes: the new leaf key is saved.
  states[1] = State::load(states[1].save()).value();
  auto result = states[0].commit({}).value();
  const auto& commit = std::get<Commit>(std::get<PublicMessage>(result.commit.message).content.content);
  ASSERT_EQ(commit.proposals.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<ProposalRef>(commit.proposals[0].value));
  ASSERT_TRUE(commit.path.has_value());  // an Update requires a path
  std::vector<State> next;
  next.push_back(std::move(result.next));
  next.push_back(states[1].handle_commit(result.commit).value());
  next.push_back(states[2].handle_commit(result.commit).value());
  expect_agreement(next);
  const LeafNode* updated = next[0].tree().leaf(states[1].own_leaf());
  EXPECT_NE(updated->encryption_key, old_key);
  EXPECT_EQ(updated->leaf_node_source(), LeafNodeSource::kUpdate);
  // The updater holds the new leaf's key: it decrypts the next path to it.
  auto again = next[2].commit({}).value();
  next[0] = next[0].handle_commit(again.commit).value();
  next[1] = next[1].handle_commit(again.commit).value();
  next[2] = std::move(again.next);
  expect_agreement(next);
}

TEST_P(StateTest, OwnUpdateIsLeftOutOfOwnCommit) {
  auto states = group(3);
  auto mine = states[0].propose_update().value();
  auto theirs = states[2].propose_update().value();
  ASSERT_TRUE(states[0].handle_proposal(theirs).has_value());
  for (std::size_t i : {1u, 2u}) {
    if (i != 2) {
      ASSERT_TRUE(states[i].handle_proposal(theirs).has_value());
    }
    ASSERT_TRUE(states[i].handle_proposal(mine).has_value());
  }
  auto result = states[0].commit({}).value();
  const auto& commit = std::get<Commit>(std::get<PublicMessage>(result.commit.message).content.content);
  EXPECT_EQ(commit.proposals.size(), 1u);  // member 2's Update only
  std::vector<State> next;
  next.push_back(std::move(result.next));
  next.push_back(states[1].handle_commit(result.commit).value());
  next.push_back(states[2].handle_commit(result.commit).value());
  expect_agreement(next);
  // An Update of our own by value is refused outright.
  State::CommitOptions by_value;
  by_value.proposals.push_back(std::get<Proposal>(std::get<PublicMessage>(mine.message).content.content));
  auto refused = states[0].commit(by_value);
  ASSERT_FALSE(refused.has_value());
  EXPECT_STREQ(refused.error().message(), "a commit may not include an update from its committer");
}

INSTANTIATE_TEST_SUITE_P(Suites, StateTest, ::testing::Values(1, 2, 3, 5, 7, 0xF0A1),
                         [](const auto& param_info) { return "Suite" + std::to_string(param_info.param); });

// Fifty members and a hundred and twenty random operations: adds, removes,
// Update proposals, self-updates, messages, in one suite; every member stays
// in agreement throughout. Run with suite 1 and the national suite 0xF0A1
// (issue 9): the same seed, so both runs make the same operations.
class StateRandom : public ::testing::TestWithParam<std::uint16_t> {};

TEST_P(StateRandom, FiftyMembersRandomOperations) {
  auto suite = crypto::CipherSuite::from_id(GetParam()).value();
  std::mt19937 rng(20261124);
  std::vector<std::optional<State>> members;
  members.emplace_back(State::create(suite, to_bytes("random"), Client(suite, "c0").key_package()).value());
  int next_name = 1, operations = 0, updates = 0;
  auto live = [&] {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < members.size(); ++i)
      if (members[i]) out.push_back(i);
    return out;
  };
  auto broadcast = [&](std::size_t committer, CommitResult& result) {
    for (std::size_t i : live()) {
      if (i == committer) continue;
      auto next = members[i]->handle_commit(result.commit);
      if (!next) {
        ASSERT_STREQ(next.error().message(), "this member was removed from the group by the commit");
        members[i].reset();
      } else {
        members[i] = next.release_value();
      }
    }
    members[committer] = std::move(result.next);
  };
  while (operations < 120) {
    std::vector<std::size_t> alive = live();
    std::size_t committer = alive[rng() % alive.size()];
    int kind = alive.size() < 50 ? 0 : static_cast<int>(rng() % 4);
    State::CommitOptions options;
    std::vector<KeyPackageBundle> joiners;
    if (kind == 0) {
      int adds = std::min<int>(1 + static_cast<int>(rng() % 5), 55 - static_cast<int>(alive.size()));
      for (int k = 0; k < std::max(adds, 1); ++k) {
        joiners.push_back(Client(suite, "c" + std::to_string(next_name++)).key_package());
        options.proposals.push_back(Proposal{Add{joiners.back().key_package}});
      }
    } else if (kind == 1) {
      std::size_t victim = alive[rng() % alive.size()];
      if (victim == committer) continue;
      options.proposals.push_back(Proposal{Remove{members[victim]->own_leaf()}});
    } else if (kind == 3 && rng() % 2 == 0) {
      // Up to three members propose Updates; everyone records them; the
      // committer's own Update (if any) is left out of its commit.
      for (int k = 0, n = 1 + static_cast<int>(rng() % 3); k < n; ++k) {
        std::size_t proposer = alive[rng() % alive.size()];
        auto proposal = members[proposer]->propose_update();
        ASSERT_TRUE(proposal.has_value()) << proposal.error().to_string();
        for (std::size_t i : alive) {
          if (i != proposer) {
            ASSERT_TRUE(members[i]->handle_proposal(*proposal).has_value());
          }
        }
        ++updates;
      }
    } else if (kind == 2) {
      std::size_t sender = alive[rng() % alive.size()];
      auto message = members[sender]->protect(to_bytes("op " + std::to_string(operations))).value();
      for (std::size_t i : alive) {
        if (i == sender) continue;
        ASSERT_EQ(members[i]->unprotect(message).value().application_data, to_bytes("op " + std::to_string(operations)));
      }
      ++operations;
      continue;
    }
    options.encrypt = rng() % 2;
    auto result = members[committer]->commit(options);
    ASSERT_TRUE(result.has_value()) << result.error().to_string();
    broadcast(committer, *result);
    if (result->welcome) {
      for (const auto& j : joiners) {
        members.emplace_back(State::join(std::get<Welcome>(result->welcome->message), j).value());
      }
    }
    std::vector<std::size_t> now = live();
    for (std::size_t i : now) {
      ASSERT_EQ(to_hex(members[i]->epoch_authenticator()), to_hex(members[now[0]]->epoch_authenticator()))
          << "member " << i << " after operation " << operations;
    }
    ++operations;
  }
  EXPECT_GE(live().size(), 40u);
  EXPECT_GE(updates, 10);
}

INSTANTIATE_TEST_SUITE_P(Suites, StateRandom, ::testing::Values(1, 0xF0A1),
                         [](const auto& param_info) { return "Suite" + std::to_string(param_info.param); });

}  // namespace
}  // namespace pmos::mls

namespace pmos::mls {
namespace {

TEST(StatePersistence, SaveLoadResumesMidConversation) {
  auto suite = crypto::CipherSuite::from_id(1).value();
  State alice = State::create(suite, to_bytes("g"), Client(suite, "alice").key_package()).value();
  KeyPackageBundle bob_kp = Client(suite, "bob").key_package();
  State::CommitOptions add;
  add.proposals.push_back(Proposal{Add{bob_kp.key_package}});
  auto result = alice.commit(add).value();
  alice = std::move(result.next);
  State bob = State::join(std::get<Welcome>(result.welcome->message), bob_kp).value();

  // Bob misses message 0, receives 1, then restarts from disk.
  auto m0 = alice.protect(to_bytes("zero")).value();
  auto m1 = alice.protect(to_bytes("one")).value();
  ASSERT_TRUE(bob.unprotect(m1).has_value());
  SecretBytes saved = bob.save();
  State restored = State::load(saved).value();
  EXPECT_EQ(restored.save(), saved);
  EXPECT_EQ(restored.unprotect(m0).value().application_data, to_bytes("zero"));  // kept for a late message
  EXPECT_FALSE(restored.unprotect(m1).has_value());  // already consumed before the save

  // And the restored state follows the next epoch.
  auto update = alice.commit({}).value();
  State next = restored.handle_commit(update.commit).value();
  EXPECT_EQ(to_hex(next.epoch_authenticator()), to_hex(update.next.epoch_authenticator()));

  // A committer's state holds path keys at lower node indices than its leaf.
  State committer = State::load(update.next.save()).value();
  EXPECT_EQ(to_hex(committer.epoch_authenticator()), to_hex(update.next.epoch_authenticator()));
  auto again = committer.commit({}).value();
  EXPECT_EQ(to_hex(next.handle_commit(again.commit).value().epoch_authenticator()),
            to_hex(again.next.epoch_authenticator()));
}

TEST(StatePersistence, VersionOneSavesStillLoad) {
  auto suite = crypto::CipherSuite::from_id(1).value();
  State alice = State::create(suite, to_bytes("g"), Client(suite, "alice").key_package()).value();
  Bytes v2 = to_bytes(alice.save().view());
  // Version 1 is version 2 without the trailing Update keys (an empty
  // vector) and ReInit flag.
  ASSERT_EQ(v2[0], 0);
  ASSERT_EQ(v2[1], 2);
  ASSERT_EQ(v2[v2.size() - 2], 0);
  ASSERT_EQ(v2[v2.size() - 1], 0);
  Bytes v1(v2.begin(), v2.end() - 2);
  v1[1] = 1;
  State loaded = State::load(v1).value();
  EXPECT_EQ(to_hex(loaded.epoch_authenticator()), to_hex(alice.epoch_authenticator()));
  EXPECT_EQ(loaded.save(), alice.save());
}

TEST(StatePersistence, CorruptSavesAreRefused) {
  auto suite = crypto::CipherSuite::from_id(1).value();
  State alice = State::create(suite, to_bytes("g"), Client(suite, "alice").key_package()).value();
  SecretBytes saved = alice.save();
  Bytes bytes = to_bytes(saved.view());
  EXPECT_FALSE(State::load(BytesView(bytes).first(bytes.size() - 1)).has_value());
  bytes.push_back(0);
  EXPECT_FALSE(State::load(bytes).has_value());
  bytes.pop_back();
  bytes[0] = 9;
  auto wrong_version = State::load(bytes);
  ASSERT_FALSE(wrong_version.has_value());
  EXPECT_STREQ(wrong_version.error().message(), "saved group state has an unknown format version");
  // Flipping any byte either fails cleanly or loads a state; never a crash.
  for (std::size_t i = 0; i < saved.size(); i += 3) {
    Bytes flipped = to_bytes(saved.view());
    flipped[i] ^= 0x40;
    (void)State::load(flipped);
  }
}

}  // namespace
}  // namespace pmos::mls

namespace pmos::mls {
namespace {

class StateNegative : public ::testing::Test {
 protected:
  void SetUp() override {
    State creator = State::create(suite_, to_bytes("neg"), Client(suite_, "a").key_package()).value();
    KeyPackageBundle b = Client(suite_, "b").key_package();
    KeyPackageBundle c = Client(suite_, "c").key_package();
    State::CommitOptions options;
    options.proposals = {Proposal{Add{b.key_package}}, Proposal{Add{c.key_package}}};
    auto result = creator.commit(options).value();
    a_.emplace(std::move(result.next));
    b_.emplace(State::join(std::get<Welcome>(result.welcome->message), b).value());
  }
  crypto::CipherSuite suite_ = crypto::CipherSuite::from_id(1).value();
  std::optional<State> a_, b_;
};

TEST_F(StateNegative, DuplicateAddIsRefused) {
  KeyPackageBundle d = Client(suite_, "d").key_package();
  State::CommitOptions options;
  options.proposals = {Proposal{Add{d.key_package}}, Proposal{Add{d.key_package}}};
  auto r = a_->commit(options);
  ASSERT_FALSE(r.has_value());
  EXPECT_STREQ(r.error().message(), "added member's signature key is already in the group");
}

TEST_F(StateNegative, RemoveOfABlankLeafIsRefused) {
  State::CommitOptions options;
  options.proposals = {Proposal{Remove{LeafIndex(3)}}};
  auto r = a_->commit(options);
  ASSERT_FALSE(r.has_value());
  EXPECT_STREQ(r.error().message(), "remove proposal names a blank or missing leaf");
}

TEST_F(StateNegative, ForgedParentHashIsRefusedAndChangesNothing) {
  auto result = a_->commit({}).value();
  MlsMessage forged = result.commit;
  auto& commit = std::get<Commit>(std::get<PublicMessage>(forged.message).content.content);
  ASSERT_TRUE(commit.path.has_value());
  commit.path->nodes.back().encryption_key.back() ^= 1;
  // The content signature covers the path: refused before any tree work.
  auto r = b_->handle_commit(forged);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().category(), ErrorCategory::kCrypto);
  EXPECT_TRUE(b_->handle_commit(result.commit).has_value());
}

TEST_F(StateNegative, CommitFromAnotherGroupOrEpochIsRefused) {
  auto result = a_->commit({}).value();
  State later = b_->handle_commit(result.commit).value();
  auto replay = later.handle_commit(result.commit);
  ASSERT_FALSE(replay.has_value());
  EXPECT_STREQ(replay.error().message(), "MLS message is for another epoch");
}

TEST_F(StateNegative, InvalidParentHashIsRefusedAndChangesNothing) {
  auto result = a_->commit({}).value();
  // Correctly signed by the committer, but the path's keys no longer match
  // the parent hash its leaf signed.
  MlsMessage forged = StateTestAccess::reframe(*a_, result.commit, [](AuthenticatedContent& c) {
    std::get<Commit>(c.content.content).path->nodes.back().encryption_key =
        std::get<Commit>(c.content.content).path->nodes.front().encryption_key;
  });
  auto r = b_->handle_commit(forged);
  ASSERT_FALSE(r.has_value());
  EXPECT_STREQ(r.error().message(), "update path parent hash does not match the sender's signed leaf");
  EXPECT_EQ(to_hex(b_->handle_commit(result.commit).value().epoch_authenticator()),
            to_hex(result.next.epoch_authenticator()));
}

TEST_F(StateNegative, BadConfirmationTagIsRefusedAndChangesNothing) {
  auto result = a_->commit({}).value();
  MlsMessage forged = StateTestAccess::reframe(*a_, result.commit, [](AuthenticatedContent& c) {
    (*c.auth.confirmation_tag)[0] ^= 1;
  });
  auto r = b_->handle_commit(forged);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().category(), ErrorCategory::kCrypto);
  EXPECT_NE(std::string(r.error().message()).find("confirmation tag"), std::string::npos) << r.error().message();
  EXPECT_EQ(to_hex(b_->handle_commit(result.commit).value().epoch_authenticator()),
            to_hex(result.next.epoch_authenticator()));
}

TEST_F(StateNegative, UpdateByANonMemberIsRefused) {
  auto proposal = b_->propose_update().value();
  // The same Update claimed from leaf 3, which is blank.
  MlsMessage forged = StateTestAccess::reframe(*b_, proposal, [](AuthenticatedContent& c) {
    c.content.sender = Sender{MemberSender{LeafIndex(3)}};
  });
  auto r = a_->handle_proposal(forged);
  ASSERT_FALSE(r.has_value());
  EXPECT_STREQ(r.error().message(), "message sender is not a member");
  // And from member c (leaf 2), who did not sign that leaf.
  MlsMessage stolen = StateTestAccess::reframe(*b_, proposal, [](AuthenticatedContent& c) {
    c.content.sender = Sender{MemberSender{LeafIndex(2)}};
  });
  r = a_->handle_proposal(stolen);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().category(), ErrorCategory::kCrypto);
  // Nothing was recorded: a's commit carries no proposal.
  auto result = a_->commit({}).value();
  EXPECT_TRUE(std::get<Commit>(std::get<PublicMessage>(result.commit.message).content.content).proposals.empty());
}

TEST_F(StateNegative, UpdateAndRemoveOfOneMemberKeepsTheRemove) {
  auto update = b_->propose_update().value();
  ASSERT_TRUE(a_->handle_proposal(update).has_value());
  State::CommitOptions options;
  options.proposals = {Proposal{Remove{b_->own_leaf()}}};
  auto result = a_->commit(options).value();
  const auto& commit = std::get<Commit>(std::get<PublicMessage>(result.commit.message).content.content);
  ASSERT_EQ(commit.proposals.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<Proposal>(commit.proposals[0].value));
  EXPECT_EQ(result.next.roster().size(), 2u);
}

TEST_F(StateNegative, RemovedMemberCannotDecryptAnyMore) {
  State::CommitOptions options;
  options.proposals = {Proposal{Remove{b_->own_leaf()}}};
  auto result = a_->commit(options).value();
  EXPECT_FALSE(b_->handle_commit(result.commit).has_value());
  auto after = result.next.protect(to_bytes("after removal")).value();
  EXPECT_FALSE(b_->unprotect(after).has_value());
}

}  // namespace
}  // namespace pmos::mls

namespace pmos::mls {
namespace {

TEST_P(StateTest, ExternalCommitJoinsWithoutAWelcome) {
  auto states = group(3);
  MlsMessage info_message = states[0].group_info().value();
  const GroupInfo& info = std::get<GroupInfo>(info_message.message);
  KeyPackageBundle newcomer = bundle("late");
  auto [commit, joined] = State::join_external(info, newcomer).value();
  for (auto& s : states) s = s.handle_commit(commit).value();
  states.push_back(std::move(joined));
  expect_agreement(states);
  auto message = states[3].protect(to_bytes("joined by myself")).value();
  EXPECT_EQ(states[1].unprotect(message).value().application_data, to_bytes("joined by myself"));
}

TEST_P(StateTest, ExternalCommitCanReplaceTheJoinersOldLeaf) {
  auto states = group(3);
  // Member 2 lost its state: it rejoins and removes its old leaf at once.
  LeafIndex old_leaf = states[2].own_leaf();
  MlsMessage info_message = states[0].group_info().value();
  auto [commit, rejoined] =
      State::join_external(std::get<GroupInfo>(info_message.message), bundle("m2-again"), std::nullopt,
                           accept_any_credential, old_leaf)
          .value();
  State a = states[0].handle_commit(commit).value();
  State b = states[1].handle_commit(commit).value();
  EXPECT_EQ(to_hex(a.epoch_authenticator()), to_hex(rejoined.epoch_authenticator()));
  EXPECT_EQ(to_hex(b.epoch_authenticator()), to_hex(rejoined.epoch_authenticator()));
  EXPECT_EQ(a.roster().size(), 3u);
  EXPECT_FALSE(states[2].handle_commit(commit).has_value());  // the old state was removed
}

TEST_P(StateTest, ForgedExternalCommitIsRefused) {
  auto states = group(2);
  MlsMessage info_message = states[0].group_info().value();
  auto [commit, joined] = State::join_external(std::get<GroupInfo>(info_message.message), bundle("x")).value();
  auto& pub = std::get<PublicMessage>(commit.message);
  pub.content.authenticated_data = to_bytes("tampered");
  auto refused = states[1].handle_commit(commit);
  ASSERT_FALSE(refused.has_value());
  EXPECT_STREQ(refused.error().message(), "MLS content signature does not verify with the sender's key");
}

}  // namespace
}  // namespace pmos::mls

namespace pmos::mls {
namespace {

// Proposals from outside the group (§12.1.8): a server listed in the
// external_senders extension, and would-be members asking to be added.
class ExternalSenders : public ::testing::TestWithParam<std::uint16_t> {
 protected:
  void SetUp() override {
    server_key_ = suite_.signature().generate().value();
    ExternalSender server{to_bytes(server_key_.public_key().bytes()), Credential{BasicCredential{to_bytes("server")}}};
    ExtensionList extensions;
    extensions.extensions.push_back(
        {ExtensionType::kExternalSenders, tls::encode(std::vector<ExternalSender>{server})});
    State creator = State::create(suite_, to_bytes("ext"), bundle("a"), extensions).value();
    KeyPackageBundle b = bundle("b"), c = bundle("c");
    State::CommitOptions options;
    options.proposals = {Proposal{Add{b.key_package}}, Proposal{Add{c.key_package}}};
    auto result = creator.commit(options).value();
    const Welcome& welcome = std::get<Welcome>(result.welcome->message);
    states_.push_back(std::move(result.next));
    states_.push_back(State::join(welcome, b).value());
    states_.push_back(State::join(welcome, c).value());
  }

  KeyPackageBundle bundle(const std::string& name) { return Client(suite_, name).key_package(); }

  // A PublicMessage proposal from `sender`, signed with `key`, however
  // wrong: what a hostile outsider could send.
  MlsMessage forged(Sender sender, const crypto::PrivateKey& key, Proposal proposal) {
    AuthenticatedContent content;
    content.wire_format = WireFormat::kPublicMessage;
    content.content.group_id = to_bytes(states_[0].group_id());
    content.content.epoch = states_[0].epoch();
    content.content.sender = std::move(sender);
    content.content.content = std::move(proposal);
    content.auth.signature = sign_content(suite_, WireFormat::kPublicMessage, content.content,
                                          states_[0].group_context(), key).value();
    return MlsMessage{ProtocolVersion::kMls10, protect_public(suite_, content, states_[0].group_context(), {}).value()};
  }

  std::size_t committed_proposals() {
    auto result = states_[0].commit({}).value();
    return std::get<Commit>(std::get<PublicMessage>(result.commit.message).content.content).proposals.size();
  }

  crypto::CipherSuite suite_ = crypto::CipherSuite::from_id(GetParam()).value();
  crypto::PrivateKey server_key_;
  std::vector<State> states_;
};

TEST_P(ExternalSenders, ServerRemovesAMember) {
  auto proposal = external_proposal(suite_, states_[0].group_context(), 0, server_key_,
                                    Proposal{Remove{states_[2].own_leaf()}})
                      .value();
  ASSERT_TRUE(states_[0].handle_proposal(proposal).has_value());
  ASSERT_TRUE(states_[2].handle_proposal(proposal).has_value());
  Received received = states_[1].unprotect(proposal).value();
  EXPECT_EQ(received.kind, Received::Kind::kProposal);
  EXPECT_EQ(received.external_sender, 0u);
  auto result = states_[0].commit({}).value();
  State b = states_[1].handle_commit(result.commit).value();
  EXPECT_EQ(to_hex(b.epoch_authenticator()), to_hex(result.next.epoch_authenticator()));
  EXPECT_EQ(b.roster().size(), 2u);
  auto removed = states_[2].handle_commit(result.commit);
  ASSERT_FALSE(removed.has_value());
  EXPECT_STREQ(removed.error().message(), "this member was removed from the group by the commit");
}

TEST_P(ExternalSenders, WouldBeMemberAsksToBeAdded) {
  KeyPackageBundle d = bundle("d");
  auto proposal = new_member_proposal(suite_, states_[0].group_context(), d).value();
  ASSERT_TRUE(states_[0].handle_proposal(proposal).has_value());
  ASSERT_TRUE(states_[1].handle_proposal(proposal).has_value());
  auto result = states_[0].commit({}).value();
  ASSERT_TRUE(result.welcome.has_value());
  State joined = State::join(std::get<Welcome>(result.welcome->message), d).value();
  State b = states_[1].handle_commit(result.commit).value();
  EXPECT_EQ(to_hex(joined.epoch_authenticator()), to_hex(result.next.epoch_authenticator()));
  EXPECT_EQ(to_hex(b.epoch_authenticator()), to_hex(result.next.epoch_authenticator()));
  EXPECT_EQ(b.roster().size(), 4u);
}

TEST_P(ExternalSenders, OutsidersOverstepping) {
  auto stranger = suite_.signature().generate().value();
  auto expect_refused = [&](const MlsMessage& m, const char* message) {
    auto r = states_[0].handle_proposal(m);
    ASSERT_FALSE(r.has_value()) << message;
    EXPECT_STREQ(r.error().message(), message);
  };
  Proposal remove{Remove{states_[2].own_leaf()}};
  expect_refused(forged(Sender{ExternalSenderIndex{1}}, server_key_, remove),
                 "external sender index is beyond the group's external senders");
  expect_refused(forged(Sender{ExternalSenderIndex{0}}, stranger, remove),
                 "MLS content signature does not verify with the sender's key");
  // The server may not replace a member's leaf.
  Update update{*states_[1].tree().leaf(states_[1].own_leaf())};
  expect_refused(forged(Sender{ExternalSenderIndex{0}}, server_key_, Proposal{update}),
                 "an external sender may not send this kind of proposal");
  EXPECT_FALSE(external_proposal(suite_, states_[0].group_context(), 0, server_key_, Proposal{update}).has_value());
  // A would-be member may only ask to be added, and only with its own key.
  KeyPackageBundle d = bundle("d");
  expect_refused(forged(Sender{NewMemberProposalSender{}}, d.signature_key, remove),
                 "a new-member-proposal sender may only propose an Add");
  expect_refused(forged(Sender{NewMemberProposalSender{}}, stranger, Proposal{Add{d.key_package}}),
                 "MLS content signature does not verify with the sender's key");
  // A server proposal for a blank leaf.
  expect_refused(forged(Sender{ExternalSenderIndex{0}}, server_key_, Proposal{Remove{LeafIndex(3)}}),
                 "remove proposal names a blank or missing leaf");
  // Nothing was recorded.
  EXPECT_EQ(committed_proposals(), 0u);
}

TEST_P(ExternalSenders, GroupWithoutExternalSendersRefusesThem) {
  State alone = State::create(suite_, to_bytes("plain"), bundle("z")).value();
  auto proposal = external_proposal(suite_, alone.group_context(), 0, server_key_, Proposal{Remove{LeafIndex(0)}}).value();
  auto r = alone.handle_proposal(proposal);
  ASSERT_FALSE(r.has_value());
  EXPECT_STREQ(r.error().message(), "message from an external sender, but the group has none");
}

INSTANTIATE_TEST_SUITE_P(Suites, ExternalSenders, ::testing::Values(1, 2, 3, 5, 7, 0xF0A1),
                         [](const auto& param_info) { return "Suite" + std::to_string(param_info.param); });

}  // namespace
}  // namespace pmos::mls

namespace pmos::mls {
namespace {

// Re-initialisation (§11.2) and branching (§11.3), from a suite-1 group of
// three to each suite.
class Resumption : public ::testing::TestWithParam<std::uint16_t> {
 protected:
  void SetUp() override {
    State creator = State::create(old_suite_, to_bytes("old"), Client(old_suite_, "m0").key_package()).value();
    std::vector<KeyPackageBundle> joiners{Client(old_suite_, "m1").key_package(), Client(old_suite_, "m2").key_package()};
    State::CommitOptions options;
    for (const auto& j : joiners) options.proposals.push_back(Proposal{Add{j.key_package}});
    auto result = creator.commit(options).value();
    states_.push_back(std::move(result.next));
    for (const auto& j : joiners) states_.push_back(State::join(std::get<Welcome>(result.welcome->message), j).value());
  }

  static void expect_agreement(const std::vector<const State*>& states) {
    for (const State* s : states) EXPECT_EQ(to_hex(s->epoch_authenticator()), to_hex(states[0]->epoch_authenticator()));
  }

  crypto::CipherSuite old_suite_ = crypto::CipherSuite::from_id(1).value();
  crypto::CipherSuite new_suite_ = crypto::CipherSuite::from_id(GetParam()).value();
  std::vector<State> states_;
};

TEST_P(Resumption, ReInitEndsTheGroupAndStartsTheNewOne) {
  ExtensionList extensions;
  extensions.extensions.push_back({ExtensionType::kApplicationId, tls::encode(ApplicationIdExtension{to_bytes("v2")})});
  ReInit reinit{to_bytes("new"), ProtocolVersion::kMls10, static_cast<CipherSuiteId>(GetParam()), extensions};
  State::CommitOptions options;
  options.proposals.push_back(Proposal{reinit});
  auto result = states_[1].commit(options).value();
  std::vector<State> ended;
  ended.push_back(states_[0].handle_commit(result.commit).value());
  ended.push_back(std::move(result.next));
  ended.push_back(states_[2].handle_commit(result.commit).value());
  for (const auto& s : ended) {
    ASSERT_TRUE(s.ended_by_reinit().has_value());
    EXPECT_EQ(*s.ended_by_reinit(), reinit);
  }
  expect_agreement({&ended[0], &ended[1], &ended[2]});
  // The ended group sends nothing more, and survives a restart as ended.
  EXPECT_STREQ(ended[0].protect(to_bytes("late")).error().message(),
               "the group has ended with a ReInit: continue in the new group (reinit())");
  EXPECT_FALSE(ended[0].commit({}).has_value());
  ended[0] = State::load(ended[0].save()).value();
  ASSERT_TRUE(ended[0].ended_by_reinit().has_value());

  // Member 0 makes the new group with everyone, in the new suite.
  std::vector<KeyPackageBundle> kps;
  for (int i = 0; i < 3; ++i) kps.push_back(Client(new_suite_, "m" + std::to_string(i)).key_package());
  auto made = ended[0].reinit(std::move(kps[0]), {kps[1].key_package, kps[2].key_package}).value();
  const Welcome& welcome = std::get<Welcome>(made.welcome->message);
  State b = ended[1].join_resumed(welcome, kps[1]).value();
  State c = ended[2].join_resumed(welcome, kps[2]).value();
  EXPECT_EQ(b.suite().id(), GetParam());
  EXPECT_EQ(to_bytes(b.group_id()), to_bytes("new"));
  EXPECT_EQ(b.group_context().extensions, extensions);
  expect_agreement({&made.next, &b, &c});
  auto hello = c.protect(to_bytes("in the new group")).value();
  EXPECT_EQ(made.next.unprotect(hello).value().application_data, to_bytes("in the new group"));

  // A member that did not follow the ReInit expects a branch, not a reinit.
  auto refused = states_[2].join_resumed(welcome, kps[2]);
  ASSERT_FALSE(refused.has_value());
  EXPECT_STREQ(refused.error().message(), "Welcome's resumption PSK is not of usage branch");
}

TEST_P(Resumption, ReInitMustStandAlone) {
  State::CommitOptions options;
  options.proposals.push_back(Proposal{ReInit{to_bytes("new"), ProtocolVersion::kMls10,
                                              static_cast<CipherSuiteId>(GetParam()), {}}});
  options.proposals.push_back(Proposal{Remove{states_[2].own_leaf()}});
  auto r = states_[0].commit(options);
  ASSERT_FALSE(r.has_value());
  EXPECT_STREQ(r.error().message(), "a commit with a ReInit proposal may contain no other proposal");
  EXPECT_FALSE(states_[0].reinit(Client(new_suite_, "m0").key_package(), {}).has_value());  // not ended
}

// A branch keeps the suite: here the old group is in the parameter's suite.
class Branching : public Resumption {
 protected:
  void SetUp() override {
    old_suite_ = new_suite_;
    Resumption::SetUp();
  }
};

TEST_P(Branching, BranchMakesASubgroup) {
  KeyPackageBundle a = Client(old_suite_, "m0").key_package(), c = Client(old_suite_, "m2").key_package();
  auto stranger = Client(old_suite_, "x").key_package();
  auto refused = states_[0].branch(to_bytes("sub"), Client(old_suite_, "m0").key_package(), {stranger.key_package});
  ASSERT_FALSE(refused.has_value());
  EXPECT_STREQ(refused.error().message(), "a member of the new group is not a member of this group");

  auto made = states_[0].branch(to_bytes("sub"), std::move(a), {c.key_package}).value();
  const Welcome& welcome = std::get<Welcome>(made.welcome->message);
  State joined = states_[2].join_resumed(welcome, c).value();
  expect_agreement({&made.next, &joined});
  EXPECT_EQ(joined.roster().size(), 2u);
  // The old group goes on, and a member one epoch further cannot use the
  // branch's Welcome: the PSK is of the epoch the branch was made in.
  auto next = states_[1].commit({}).value();
  State later = states_[2].handle_commit(next.commit).value();
  auto stale = later.join_resumed(welcome, c);
  ASSERT_FALSE(stale.has_value());
  EXPECT_STREQ(stale.error().message(), "Welcome's resumption PSK is for another epoch of the old group");
}

INSTANTIATE_TEST_SUITE_P(Suites, Resumption, ::testing::Values(1, 2, 3, 5, 7, 0xF0A1),
                         [](const auto& param_info) { return "Suite" + std::to_string(param_info.param); });
INSTANTIATE_TEST_SUITE_P(Suites, Branching, ::testing::Values(1, 2, 3, 5, 7, 0xF0A1),
                         [](const auto& param_info) { return "Suite" + std::to_string(param_info.param); });

}  // namespace
}  // namespace pmos::mls

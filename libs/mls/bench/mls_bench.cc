// MLS costs against the floor the issue names (one Ed25519 sign + verify and
// one AES-128-GCM seal + open of 1 KiB, straight OpenSSL), in one binary.
#include <benchmark/benchmark.h>

#include <openssl/evp.h>

#include <algorithm>
#include <map>

#include "pmos/base/check.h"
#include "pmos/base/openssl_ptr.h"
#include "pmos/crypto/random.h"
#include "pmos/mls/state.h"

namespace pmos::mls {

// Builds a steady-state group of n members without n States: every parent
// node filled, as after every member has committed once. Commits are
// simulated on one shared public tree in bit-reversed leaf order (so each
// commit encrypts to few nodes), tracking the path secrets the two
// benchmarked members learn. Both get the same, arbitrary, epoch secrets.
struct StateBenchAccess {
  static std::pair<State, State> steady_state_pair(const crypto::CipherSuite& suite, std::uint32_t n) {
    std::vector<KeyPackageBundle> bundles;
    for (std::uint32_t i = 0; i < n; ++i) {
      auto signer = suite.signature().generate().value();
      bundles.push_back(
          KeyPackageBundle::create(suite, Credential{BasicCredential{to_bytes("m" + std::to_string(i))}}, signer).value());
    }
    PublicTree tree(suite, bundles[0].key_package.leaf_node);
    for (std::uint32_t i = 1; i < n; ++i) tree.add_leaf(bundles[i].key_package.leaf_node);
    std::vector<PrivateTree> privates;
    for (std::uint32_t i = 0; i < n; ++i) privates.emplace_back(LeafIndex(i), bundles[i].encryption_key);

    GroupContext context;
    context.cipher_suite = static_cast<CipherSuiteId>(suite.id());
    context.group_id = to_bytes("steady");
    context.epoch = 1;
    context.confirmed_transcript_hash = Bytes(suite.hash().size(), 1);
    GroupContextFor any_context = [&](BytesView tree_hash) {
      GroupContext c = context;
      c.tree_hash = to_bytes(tree_hash);
      return tls::encode(c);
    };
    std::uint32_t bits = 0;
    while ((1u << bits) < n) ++bits;
    LeafIndex committer(0), receiver(n - 1);
    for (std::uint32_t k = 0; k < (1u << bits); ++k) {
      std::uint32_t leaf = 0;
      for (std::uint32_t b = 0; b < bits; ++b)
        if (k & (1u << b)) leaf |= 1u << (bits - 1 - b);
      if (leaf >= n) continue;
      CreatedPath path = create_update_path(suite, tree, privates[leaf], *tree.leaf(LeafIndex(leaf)),
                                            bundles[leaf].signature_key, context.group_id, {}, any_context)
                             .value();
      // The two benchmarked members learn the secrets of their ancestors.
      for (LeafIndex member : {committer, receiver}) {
        if (member.value == leaf) continue;
        PrivateTree& own = privates[member.value];
        own.prune(tree);
        std::vector<NodeIndex> ancestors = direct_path(to_node(member), tree.leaf_count());
        for (std::size_t i = 0; i < path.nodes.size(); ++i) {
          if (std::find(ancestors.begin(), ancestors.end(), path.nodes[i]) != ancestors.end())
            (void)own.set_path_secret(suite, path.nodes[i], path.path_secrets[i]);
        }
      }
    }
    context.tree_hash = tree.root_tree_hash();
    auto make = [&](LeafIndex member) {
      SecretBytes init = SecretBytes::copy_of(Bytes(suite.hash().size(), 7));
      EpochSecrets secrets = EpochSecrets::derive(suite, init, Bytes(suite.hash().size(), 0),
                                                  Bytes(suite.hash().size(), 0), tls::encode(context))
                                 .value();
      VERIFY(privates[member.value].check_consistent(tree).has_value());
      return State(suite, context, tree, privates[member.value], bundles[member.value].signature_key,
                   std::move(secrets), Bytes(suite.hash().size(), 2), accept_any_credential);
    };
    return {make(committer), make(receiver)};
  }
};

}  // namespace pmos::mls

namespace {

using namespace pmos;
using namespace pmos::mls;

KeyPackageBundle bundle(const crypto::CipherSuite& suite, int i) {
  auto signer = suite.signature().generate().value();
  return KeyPackageBundle::create(suite, Credential{BasicCredential{to_bytes("member" + std::to_string(i))}}, signer)
      .value();
}

// A group of `n`: member 0 adds everyone in one commit; returns member 0 and
// the last member, both in the same epoch.
std::pair<State, State> group_of(const crypto::CipherSuite& suite, int n) {
  State creator = State::create(suite, to_bytes("bench"), bundle(suite, 0)).value();
  State::CommitOptions options;
  KeyPackageBundle last;
  for (int i = 1; i < n; ++i) {
    KeyPackageBundle b = bundle(suite, i);
    options.proposals.push_back(Proposal{Add{b.key_package}});
    if (i == n - 1) last = std::move(b);
  }
  auto result = creator.commit(options).value();
  State member = State::join(std::get<Welcome>(result.welcome->message), last).value();
  return {std::move(result.next), std::move(member)};
}

void BM_ProtectUnprotect1KiB(benchmark::State& state) {
  auto suite = crypto::CipherSuite::from_id(1).value();
  auto [alice, bob] = group_of(suite, 2);
  Bytes message = crypto::random_bytes(1024);
  for (auto _ : state) {
    MlsMessage wire = alice.protect(message).value();
    Received received = bob.unprotect(wire).value();
    benchmark::DoNotOptimize(received.application_data.data());
  }
}
BENCHMARK(BM_ProtectUnprotect1KiB);

void BM_RawFloor_Ed25519SignVerify_Aes128GcmSealOpen1KiB(benchmark::State& state) {
  EvpPkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  EvpCipherPtr cipher(EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr));
  EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  Bytes aes_key = crypto::random_bytes(16), nonce = crypto::random_bytes(12);
  Bytes message = crypto::random_bytes(1024), sealed(1024 + 16), opened(1024), signature(64);
  for (auto _ : state) {
    std::size_t length = 64;
    EvpMdCtxPtr sign(EVP_MD_CTX_new());
    VERIFY(EVP_DigestSignInit_ex(sign.get(), nullptr, nullptr, nullptr, nullptr, key.get(), nullptr) == 1);
    VERIFY(EVP_DigestSign(sign.get(), signature.data(), &length, message.data(), message.size()) == 1);
    EvpMdCtxPtr verify(EVP_MD_CTX_new());
    VERIFY(EVP_DigestVerifyInit_ex(verify.get(), nullptr, nullptr, nullptr, nullptr, key.get(), nullptr) == 1);
    VERIFY(EVP_DigestVerify(verify.get(), signature.data(), 64, message.data(), message.size()) == 1);
    int n = 0;
    VERIFY(EVP_EncryptInit_ex2(ctx.get(), cipher.get(), aes_key.data(), nonce.data(), nullptr) == 1);
    VERIFY(EVP_EncryptUpdate(ctx.get(), sealed.data(), &n, message.data(), 1024) == 1);
    VERIFY(EVP_EncryptFinal_ex(ctx.get(), sealed.data() + n, &n) == 1);
    VERIFY(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, 16, sealed.data() + 1024) == 1);
    VERIFY(EVP_DecryptInit_ex2(ctx.get(), cipher.get(), aes_key.data(), nonce.data(), nullptr) == 1);
    VERIFY(EVP_DecryptUpdate(ctx.get(), opened.data(), &n, sealed.data(), 1024) == 1);
    VERIFY(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, 16, sealed.data() + 1024) == 1);
    VERIFY(EVP_DecryptFinal_ex(ctx.get(), opened.data() + n, &n) == 1);
    benchmark::DoNotOptimize(opened.data());
  }
}
BENCHMARK(BM_RawFloor_Ed25519SignVerify_Aes128GcmSealOpen1KiB);

// Commit with path by member 0, and the last member applying it. The tree
// is the one a single "add everyone" commit leaves (member 0's path filled,
// the rest of the parents blank), then one warm-up commit from each side.
void BM_CommitWithPath(benchmark::State& state) {
  auto suite = crypto::CipherSuite::from_id(1).value();
  auto [committer, member] = group_of(suite, static_cast<int>(state.range(0)));
  for (int warm = 0; warm < 1; ++warm) {
    auto a = member.commit({}).value();
    committer = committer.handle_commit(a.commit).value();
    member = std::move(a.next);
  }
  for (auto _ : state) {
    State::CommitOptions options;
    options.force_path = true;
    auto result = committer.commit(options).value();
    benchmark::DoNotOptimize(result.commit);
  }
}
BENCHMARK(BM_CommitWithPath)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);

void BM_ApplyCommitWithPath(benchmark::State& state) {
  auto suite = crypto::CipherSuite::from_id(1).value();
  auto [committer, member] = group_of(suite, static_cast<int>(state.range(0)));
  auto a = member.commit({}).value();
  committer = committer.handle_commit(a.commit).value();
  member = std::move(a.next);
  State::CommitOptions options;
  options.force_path = true;
  auto result = committer.commit(options).value();
  for (auto _ : state) {
    State next = member.handle_commit(result.commit).value();
    benchmark::DoNotOptimize(next.epoch());
  }
}
BENCHMARK(BM_ApplyCommitWithPath)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);

void BM_JoinFromWelcome(benchmark::State& state) {
  auto suite = crypto::CipherSuite::from_id(1).value();
  int n = static_cast<int>(state.range(0));
  State creator = State::create(suite, to_bytes("bench"), bundle(suite, 0)).value();
  State::CommitOptions options;
  KeyPackageBundle last;
  for (int i = 1; i < n; ++i) {
    KeyPackageBundle b = bundle(suite, i);
    options.proposals.push_back(Proposal{Add{b.key_package}});
    if (i == n - 1) last = std::move(b);
  }
  auto result = creator.commit(options).value();
  const Welcome& welcome = std::get<Welcome>(result.welcome->message);
  for (auto _ : state) {
    State joined = State::join(welcome, last).value();
    benchmark::DoNotOptimize(joined.epoch());
  }
}
BENCHMARK(BM_JoinFromWelcome)->Arg(1000)->Unit(benchmark::kMillisecond);

// One steady-state pair per size for the whole run: building a 10,000-member
// tree costs 10,000 simulated commits, too much to repeat per benchmark.
// Neither benchmark below changes the pair (public commits, own commits
// not applied).
std::pair<State, State>& steady_pair(std::uint32_t n) {
  static std::map<std::uint32_t, std::pair<State, State>> pairs;
  auto it = pairs.find(n);
  if (it == pairs.end()) {
    auto suite = crypto::CipherSuite::from_id(1).value();
    it = pairs.emplace(n, StateBenchAccess::steady_state_pair(suite, n)).first;
  }
  return it->second;
}

// The same in a steady-state tree (every parent filled): the shape mlspp's
// figures are for, where a commit encrypts once per level.
void BM_SteadyCommitWithPath(benchmark::State& state) {
  State& committer = steady_pair(static_cast<std::uint32_t>(state.range(0))).first;
  std::size_t levels = 0, ciphertexts = 0;
  for (auto _ : state) {
    State::CommitOptions options;
    options.force_path = true;
    auto result = committer.commit(options).value();
    benchmark::DoNotOptimize(result.commit);
    const auto& path = std::get<Commit>(std::get<PublicMessage>(result.commit.message).content.content).path;
    levels = path->nodes.size();
    ciphertexts = 0;
    for (const auto& node : path->nodes) ciphertexts += node.encrypted_path_secret.size();
  }
  // The HPKE work the tree's shape demands: the rest of the cost is per level.
  state.counters["path_nodes"] = static_cast<double>(levels);
  state.counters["ciphertexts"] = static_cast<double>(ciphertexts);
}
BENCHMARK(BM_SteadyCommitWithPath)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

void BM_SteadyApplyCommitWithPath(benchmark::State& state) {
  auto& [committer, member] = steady_pair(static_cast<std::uint32_t>(state.range(0)));
  State::CommitOptions options;
  options.force_path = true;
  auto result = committer.commit(options).value();
  for (auto _ : state) {
    State next = member.handle_commit(result.commit).value();
    benchmark::DoNotOptimize(next.epoch());
  }
}
BENCHMARK(BM_SteadyApplyCommitWithPath)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

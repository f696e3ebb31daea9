#include "pmos/mls/secret_tree.h"

#include "pmos/base/check.h"

namespace pmos::mls {

SecretTree::SecretTree(const crypto::CipherSuite& suite, LeafCount leaves, BytesView encryption_secret,
                       SecretTreeLimits limits)
    : suite_(suite), leaves_(leaves), limits_(limits) {
  node_secrets_.emplace(root(leaves).value, SecretBytes::copy_of(encryption_secret));
}

ErrorOr<SecretBytes> SecretTree::leaf_secret(LeafIndex leaf) {
  // Walk down from the deepest ancestor whose secret we still hold, deriving
  // both children and deleting the parent at each step (§9: "delete").
  NodeIndex target = to_node(leaf);
  if (!node_secrets_.contains(target.value)) {
    std::vector<NodeIndex> path = direct_path(target, leaves_);  // bottom-up, ends at the root
    std::size_t start = 0;
    while (start < path.size() && !node_secrets_.contains(path[start].value)) ++start;
    if (start == path.size()) return Error::crypto("secret tree: this leaf's secret was already consumed");
    std::uint16_t nh = static_cast<std::uint16_t>(suite_.hash().size());
    for (std::size_t i = start + 1; i-- > 0;) {
      auto it = node_secrets_.find(path[i].value);
      VERIFY(it != node_secrets_.end());
      SecretBytes secret = std::move(it->second);
      node_secrets_.erase(it);
      NodeIndex l = *left(path[i]), r = *right(path[i]);
      node_secrets_.emplace(l.value, TRY(suite_.expand_with_label(secret, "tree", as_bytes("left"), nh)));
      node_secrets_.emplace(r.value, TRY(suite_.expand_with_label(secret, "tree", as_bytes("right"), nh)));
    }
  }
  auto it = node_secrets_.find(target.value);
  VERIFY(it != node_secrets_.end());
  SecretBytes secret = std::move(it->second);
  node_secrets_.erase(it);
  return secret;
}

ErrorOr<SecretTree::Ratchet*> SecretTree::ratchet(LeafIndex leaf, RatchetType type) {
  if (leaf.value >= leaves_.value) return Error::invalid_argument("secret tree: leaf index beyond the tree");
  std::uint32_t handshake = 2 * leaf.value;
  std::uint32_t wanted = handshake + (type == RatchetType::kApplication ? 1 : 0);
  if (auto it = ratchets_.find(wanted); it != ratchets_.end()) return &it->second;
  // Both ratchets of a leaf start together: the leaf secret is used once.
  SecretBytes secret = TRY(leaf_secret(leaf));
  std::uint16_t nh = static_cast<std::uint16_t>(suite_.hash().size());
  Ratchet h, a;
  h.secret = TRY(suite_.expand_with_label(secret, "handshake", {}, nh));
  a.secret = TRY(suite_.expand_with_label(secret, "application", {}, nh));
  h.started = a.started = true;
  ratchets_.insert_or_assign(handshake, std::move(h));
  ratchets_.insert_or_assign(handshake + 1, std::move(a));
  return &ratchets_.find(wanted)->second;
}

ErrorOr<MessageKey> SecretTree::derive_and_advance(Ratchet& r) {
  std::uint16_t nh = static_cast<std::uint16_t>(suite_.hash().size());
  MessageKey out;
  out.generation = r.next_generation;
  out.key = TRY(suite_.derive_tree_secret(r.secret, "key", r.next_generation,
                                          static_cast<std::uint16_t>(suite_.aead().key_size())));
  out.nonce = TRY(suite_.derive_tree_secret(r.secret, "nonce", r.next_generation,
                                            static_cast<std::uint16_t>(suite_.aead().nonce_size())));
  if (r.next_generation == UINT32_MAX) return Error::crypto("secret tree: ratchet generation exhausted");
  r.secret = TRY(suite_.derive_tree_secret(r.secret, "secret", r.next_generation, nh));
  ++r.next_generation;
  return out;
}

ErrorOr<MessageKey> SecretTree::next(LeafIndex leaf, RatchetType type) {
  Ratchet* r = TRY(ratchet(leaf, type));
  return derive_and_advance(*r);
}

ErrorOr<MessageKey> SecretTree::get(LeafIndex leaf, RatchetType type, std::uint32_t generation) {
  Ratchet* r = TRY(ratchet(leaf, type));
  if (generation < r->next_generation) {
    auto it = r->skipped.find(generation);
    if (it == r->skipped.end())
      return Error::crypto("secret tree: key of this generation was already used or is outside the window");
    MessageKey key = std::move(it->second);
    r->skipped.erase(it);
    return key;
  }
  if (generation - r->next_generation > limits_.max_future_generations)
    return Error::crypto("secret tree: generation is too far ahead");
  while (r->next_generation < generation) {
    MessageKey skipped = TRY(derive_and_advance(*r));
    r->skipped.emplace(skipped.generation, std::move(skipped));
  }
  MessageKey key = TRY(derive_and_advance(*r));
  // Forget keys that fell out of the window behind the newest generation.
  while (!r->skipped.empty() && key.generation - r->skipped.begin()->first > limits_.max_past_generations)
    r->skipped.erase(r->skipped.begin());
  return key;
}

void SecretTree::save(tls::Writer& w) const {
  w.u32(leaves_.value);
  w.u32(limits_.max_past_generations);
  w.u32(limits_.max_future_generations);
  std::size_t mark = w.begin_vector();
  for (const auto& [node, secret] : node_secrets_) {
    w.u32(node);
    w.opaque(secret);
  }
  w.end_vector(mark);
  // Every leaf's two ratchets, unstarted ones included (the saved layout
  // predates the sparse map).
  mark = w.begin_vector();
  const Ratchet unstarted;
  for (std::uint32_t i = 0; i < 2 * leaves_.value; ++i) {
    auto it = ratchets_.find(i);
    const Ratchet& r = it == ratchets_.end() ? unstarted : it->second;
    w.u8(r.started ? 1 : 0);
    w.opaque(r.secret);
    w.u32(r.next_generation);
    std::size_t inner = w.begin_vector();
    for (const auto& [generation, key] : r.skipped) {
      w.u32(generation);
      w.opaque(key.key);
      w.opaque(key.nonce);
    }
    w.end_vector(inner);
  }
  w.end_vector(mark);
}

ErrorOr<SecretTree> SecretTree::load(const crypto::CipherSuite& suite, tls::Reader& r) {
  LeafCount leaves(TRY(r.u32()));
  if (leaves.value == 0 || leaves.value > (1u << 30) || (leaves.value & (leaves.value - 1)) != 0)
    return Error::decode("saved secret tree has an impossible leaf count");
  SecretTreeLimits limits{TRY(r.u32()), TRY(r.u32())};
  SecretTree tree(suite, leaves, {}, limits);
  tree.node_secrets_.clear();
  std::size_t nh = suite.hash().size(), nk = suite.aead().key_size(), nn = suite.aead().nonce_size();
  tls::Reader nodes = TRY(r.vector());
  while (!nodes.empty()) {
    std::uint32_t node = TRY(nodes.u32());
    BytesView secret = TRY(nodes.opaque());
    if (node >= node_width(leaves) || secret.size() != nh || !tree.node_secrets_.emplace(node, SecretBytes::copy_of(secret)).second)
      return Error::decode("saved secret tree has a bad node secret");
  }
  tls::Reader ratchets = TRY(r.vector());
  for (std::uint32_t i = 0; i < 2 * leaves.value; ++i) {
    Ratchet ratchet;
    std::uint8_t started = TRY(ratchets.u8());
    if (started > 1) return Error::decode("saved secret tree has a bad ratchet flag");
    ratchet.started = started == 1;
    BytesView secret = TRY(ratchets.opaque());
    if (secret.size() != (ratchet.started ? nh : 0)) return Error::decode("saved secret tree has a bad ratchet secret");
    ratchet.secret = SecretBytes::copy_of(secret);
    ratchet.next_generation = TRY(ratchets.u32());
    tls::Reader skipped = TRY(ratchets.vector());
    while (!skipped.empty()) {
      MessageKey key;
      key.generation = TRY(skipped.u32());
      BytesView k = TRY(skipped.opaque());
      BytesView n = TRY(skipped.opaque());
      if (k.size() != nk || n.size() != nn || key.generation >= ratchet.next_generation)
        return Error::decode("saved secret tree has a bad skipped key");
      key.key = SecretBytes::copy_of(k);
      key.nonce = SecretBytes::copy_of(n);
      if (!ratchet.skipped.emplace(key.generation, std::move(key)).second)
        return Error::decode("saved secret tree repeats a skipped key");
    }
    if (ratchet.started) {
      tree.ratchets_.emplace(i, std::move(ratchet));
    } else if (ratchet.next_generation != 0 || !ratchet.skipped.empty()) {
      return Error::decode("saved secret tree has an unstarted ratchet with state");
    }
  }
  TRY(ratchets.finish());
  return tree;
}

ErrorOr<SenderDataKey> sender_data_key(const crypto::CipherSuite& suite, BytesView sender_data_secret,
                                       BytesView ciphertext) {
  BytesView sample = ciphertext.first(std::min(ciphertext.size(), suite.hash().size()));
  SenderDataKey out;
  out.key = TRY(suite.expand_with_label(sender_data_secret, "key", sample,
                                        static_cast<std::uint16_t>(suite.aead().key_size())));
  out.nonce = TRY(suite.expand_with_label(sender_data_secret, "nonce", sample,
                                          static_cast<std::uint16_t>(suite.aead().nonce_size())));
  return out;
}

}  // namespace pmos::mls

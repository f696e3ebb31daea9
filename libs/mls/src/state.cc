#include "pmos/mls/state.h"

#include <algorithm>
#include <memory>
#include <set>

#include "pmos/base/codec.h"
#include "pmos/crypto/random.h"
#include "pmos/mls/message_protection.h"

namespace pmos::mls {

ErrorOr<void> accept_any_credential(const Credential&, BytesView) { return {}; }

namespace {

Capabilities default_capabilities(const crypto::CipherSuite& suite) {
  Capabilities c;
  c.versions = {ProtocolVersion::kMls10};
  c.cipher_suites = {static_cast<CipherSuiteId>(suite.id())};
  c.credentials = {CredentialType::kBasic, CredentialType::kX509};
  return c;
}

ErrorOr<crypto::PublicKey> signature_key_of(const crypto::CipherSuite& suite, const LeafNode& leaf) {
  auto key = suite.signature().public_key(leaf.signature_key);
  if (!key) return Error::decode("leaf node has a malformed signature key");
  return key.release_value();
}

ErrorOr<void> verify_leaf(const crypto::CipherSuite& suite, const LeafNode& leaf, BytesView group_id,
                          LeafIndex index) {
  crypto::PublicKey key = TRY(signature_key_of(suite, leaf));
  if (!suite.verify_with_label(key, "LeafNodeTBS", tls::encode(LeafNodeTbs::of(leaf, group_id, index)),
                               leaf.signature))
    return Error::crypto("leaf node signature does not verify");
  return {};
}

// An Update's new leaf (§12.1.2, §7.3): from a member, of source update,
// signed for this group and leaf, the same signature key, an encryption key
// new to the tree, and a credential the application accepts.
ErrorOr<void> validate_update(const crypto::CipherSuite& suite, const PublicTree& tree, BytesView group_id,
                              LeafIndex sender, const LeafNode& leaf, const CredentialValidator& validator) {
  const LeafNode* old = tree.leaf(sender);
  if (old == nullptr) return Error::decode("update proposal from a blank or missing leaf");
  if (leaf.leaf_node_source() != LeafNodeSource::kUpdate)
    return Error::decode("update proposal leaf node is not of source update");
  if (leaf.signature_key != old->signature_key)
    return Error::decode("update proposal changes the member's signature key");
  TRY(verify_leaf(suite, leaf, group_id, sender));
  for (std::uint32_t i = 0; i < node_width(tree.leaf_count()); ++i) {
    NodeIndex n(i);
    const HpkePublicKey* key = nullptr;
    if (const LeafNode* l = is_leaf(n) ? tree.leaf(LeafIndex(i / 2)) : nullptr) key = &l->encryption_key;
    if (const ParentNode* p = tree.parent_node(n)) key = &p->encryption_key;
    if (key && *key == leaf.encryption_key) return Error::decode("update proposal reuses an encryption key of the tree");
  }
  TRY(validator(leaf.credential, leaf.signature_key));
  return {};
}

ProposalRef proposal_ref(const crypto::CipherSuite& suite, const AuthenticatedContent& content) {
  return suite.ref_hash("MLS 1.0 Proposal Reference", tls::encode(content));
}

Bytes zeros(const crypto::CipherSuite& suite) { return Bytes(suite.hash().size(), 0); }

// The ratchet tree a joiner is given, checked as §12.4.3.1 requires: it
// matches the GroupInfo's tree hash, every leaf and parent hash verifies, the
// GroupInfo is signed by its signer's leaf, and every member's credential
// passes the application's check.
ErrorOr<PublicTree> verified_group_tree(const crypto::CipherSuite& suite, const GroupInfo& info,
                                        const std::optional<RatchetTree>& supplied,
                                        const CredentialValidator& validator) {
  std::optional<RatchetTree> wire = supplied;
  if (const Extension* ext = info.extensions.find(ExtensionType::kRatchetTree))
    wire = TRY(tls::decode<RatchetTree>(ext->extension_data));
  if (!wire) return Error::not_found("group info carries no ratchet tree and none was supplied");
  PublicTree tree = TRY(PublicTree::from_wire(suite, *wire));
  if (tree.root_tree_hash() != info.group_context.tree_hash)
    return Error::crypto("ratchet tree does not match the group's tree hash");
  TRY(tree.validate(info.group_context.group_id));
  const LeafNode* signer = tree.leaf(info.signer);
  if (signer == nullptr) return Error::decode("group info signer is not a member");
  crypto::PublicKey signer_key = TRY(signature_key_of(suite, *signer));
  TRY(verify_group_info(suite, info, signer_key));
  for (std::uint32_t i = 0; i < tree.leaf_count().value; ++i) {
    if (const LeafNode* member = tree.leaf(LeafIndex(i))) TRY(validator(member->credential, member->signature_key));
  }
  return tree;
}

// Paths are encrypted under the provisional GroupContext of the new epoch:
// new epoch number and extensions, the tree after the path, the old
// confirmed transcript hash (§12.4.2).
GroupContextFor provisional_context(const GroupContext& next) {
  return [next](BytesView tree_hash) {
    GroupContext c = next;
    c.tree_hash = to_bytes(tree_hash);
    return tls::encode(c);
  };
}

// The outcome of applying a commit's proposals to a copy of the tree (§12.3).
struct Applied {
  PublicTree tree;
  ExtensionList extensions;
  std::vector<std::pair<LeafIndex, KeyPackage>> added;
  std::set<std::uint32_t> new_leaves;
  std::vector<PreSharedKeyId> psks;
  bool path_required = false;
  bool removes_us = false;
  bool updates_us = false;
  std::optional<ReInit> reinit;
};

}  // namespace

ErrorOr<KeyPackageBundle> KeyPackageBundle::create(const crypto::CipherSuite& suite, Credential credential,
                                                   crypto::PrivateKey signature_key, Lifetime lifetime) {
  KeyPackageBundle b;
  b.init_key = TRY(suite.kem().generate());
  b.encryption_key = TRY(suite.kem().generate());
  b.signature_key = std::move(signature_key);
  LeafNode& leaf = b.key_package.leaf_node;
  leaf.encryption_key = to_bytes(b.encryption_key.public_key().bytes());
  leaf.signature_key = to_bytes(b.signature_key.public_key().bytes());
  leaf.credential = std::move(credential);
  leaf.capabilities = default_capabilities(suite);
  leaf.source = lifetime;
  leaf.signature = TRY(suite.sign_with_label(b.signature_key, "LeafNodeTBS",
                                             tls::encode(LeafNodeTbs::of(leaf, {}, LeafIndex(0)))));
  b.key_package.cipher_suite = static_cast<CipherSuiteId>(suite.id());
  b.key_package.init_key = to_bytes(b.init_key.public_key().bytes());
  b.key_package.signature = TRY(suite.sign_with_label(b.signature_key, "KeyPackageTBS",
                                                      tls::encode(KeyPackageTbs::of(b.key_package))));
  return b;
}

SecretBytes KeyPackageBundle::save() const {
  tls::Writer w;
  w.u16(1);  // format version
  tls::write(w, key_package);
  w.opaque(init_key.private_bytes());
  w.opaque(encryption_key.private_bytes());
  w.opaque(signature_key.private_bytes());
  Bytes plain = std::move(w).take();
  SecretBytes out = SecretBytes::copy_of(plain);
  secure_zero(plain);
  return out;
}

ErrorOr<KeyPackageBundle> KeyPackageBundle::load(BytesView saved) {
  tls::Reader r(saved);
  if (TRY(r.u16()) != 1) return Error::unsupported("saved key package has an unknown format version");
  KeyPackageBundle b;
  TRY(tls::read(r, b.key_package));
  crypto::CipherSuite suite = TRY(crypto::CipherSuite::from_id(static_cast<std::uint16_t>(b.key_package.cipher_suite)));
  b.init_key = TRY(suite.kem().private_key(TRY(r.opaque())));
  b.encryption_key = TRY(suite.kem().private_key(TRY(r.opaque())));
  b.signature_key = TRY(suite.signature().private_key(TRY(r.opaque())));
  TRY(r.finish());
  if (b.init_key.public_key().bytes().size() != b.key_package.init_key.size() ||
      to_bytes(b.init_key.public_key().bytes()) != b.key_package.init_key ||
      to_bytes(b.encryption_key.public_key().bytes()) != b.key_package.leaf_node.encryption_key ||
      to_bytes(b.signature_key.public_key().bytes()) != b.key_package.leaf_node.signature_key)
    return Error::decode("saved key package's private keys do not match it");
  return b;
}

ErrorOr<void> validate_key_package(const crypto::CipherSuite& suite, const KeyPackage& kp) {
  if (kp.version != ProtocolVersion::kMls10) return Error::unsupported("key package is not for MLS 1.0");
  if (static_cast<std::uint16_t>(kp.cipher_suite) != suite.id())
    return Error::invalid_argument("key package is for another cipher suite");
  if (kp.leaf_node.leaf_node_source() != LeafNodeSource::kKeyPackage)
    return Error::decode("key package leaf node is not of source key_package");
  if (kp.init_key == kp.leaf_node.encryption_key)
    return Error::decode("key package init key equals its leaf encryption key");
  crypto::PublicKey key = TRY(signature_key_of(suite, kp.leaf_node));
  if (!suite.verify_with_label(key, "KeyPackageTBS", tls::encode(KeyPackageTbs::of(kp)), kp.signature))
    return Error::crypto("key package signature does not verify");
  TRY(verify_leaf(suite, kp.leaf_node, {}, LeafIndex(0)));
  if (!suite.kem().public_key(kp.init_key)) return Error::decode("key package init key is malformed");
  return {};
}

State::State(crypto::CipherSuite suite, GroupContext context, PublicTree tree, PrivateTree private_tree,
             crypto::PrivateKey signature_key, EpochSecrets secrets, Bytes interim_transcript_hash,
             CredentialValidator validator)
    : suite_(suite),
      group_context_(std::move(context)),
      tree_(std::move(tree)),
      private_tree_(std::move(private_tree)),
      signature_key_(std::move(signature_key)),
      secrets_(std::move(secrets)),
      secret_tree_(suite_, tree_.leaf_count(), secrets_.encryption_secret),
      interim_transcript_hash_(std::move(interim_transcript_hash)),
      validator_(std::move(validator)) {
  // Fills every node's cached hash, so later const use of the tree (shared
  // with the previous epoch's State) writes nothing (public_tree.h).
  (void)tree_.root_tree_hash();
}

ErrorOr<State> State::create(const crypto::CipherSuite& suite, Bytes group_id, KeyPackageBundle creator,
                             ExtensionList group_extensions, CredentialValidator validator) {
  TRY(validator(creator.key_package.leaf_node.credential, creator.key_package.leaf_node.signature_key));
  PublicTree tree(suite, creator.key_package.leaf_node);
  GroupContext context;
  context.cipher_suite = static_cast<CipherSuiteId>(suite.id());
  context.group_id = std::move(group_id);
  context.epoch = 0;
  context.tree_hash = tree.root_tree_hash();
  context.extensions = std::move(group_extensions);
  // Epoch 0 (§11): a random init secret, no commit secret, no PSKs.
  SecretBytes init_secret = crypto::random_secret(suite.hash().size());
  EpochSecrets secrets = TRY(EpochSecrets::derive(suite, init_secret, zeros(suite), zeros(suite), tls::encode(context)));
  return State(suite, std::move(context), std::move(tree), PrivateTree(LeafIndex(0), creator.encryption_key),
               creator.signature_key, std::move(secrets), {}, std::move(validator));
}

ErrorOr<State> State::join(const Welcome& welcome, const KeyPackageBundle& kp, const std::optional<RatchetTree>& tree_in,
                           CredentialValidator validator, const PskLookup& psks) {
  crypto::CipherSuite suite = TRY(crypto::CipherSuite::from_id(static_cast<std::uint16_t>(welcome.cipher_suite)));
  OpenedWelcome opened = TRY(open_welcome(suite, welcome, kp.key_package, kp.init_key, psks));
  const GroupInfo& info = opened.group_info;

  PublicTree tree = TRY(verified_group_tree(suite, info, tree_in, validator));

  std::optional<LeafIndex> own;
  for (std::uint32_t i = 0; i < tree.leaf_count().value && !own; ++i) {
    const LeafNode* leaf = tree.leaf(LeafIndex(i));
    if (leaf && leaf->encryption_key == kp.key_package.leaf_node.encryption_key &&
        leaf->signature_key == kp.key_package.leaf_node.signature_key)
      own = LeafIndex(i);
  }
  if (!own) return Error::not_found("our key package's leaf is not in the group's tree");

  PrivateTree private_tree(*own, kp.encryption_key);
  if (opened.secrets.path_secret) {
    // The committer's path secret at our common ancestor, and the secrets
    // above it on the committer's filtered direct path (§12.4.3.1).
    NodeIndex ancestor = common_ancestor(to_node(*own), to_node(info.signer));
    SecretBytes secret = opened.secrets.path_secret->path_secret.clone();
    bool found = false;
    for (const auto& step : tree.filtered_direct_path(info.signer)) {
      if (step.node == ancestor) found = true;
      if (!found) continue;
      if (step.node != ancestor) secret = TRY(suite.derive_secret(secret, "path"));
      TRY(private_tree.set_path_secret(suite, step.node, secret));
    }
    if (!found) return Error::decode("Welcome path secret is for a node not on the committer's path");
  }
  TRY(private_tree.check_consistent(tree));

  EpochSecrets secrets = TRY(EpochSecrets::from_joiner(suite, opened.secrets.joiner_secret, opened.psk_secret,
                                                       tls::encode(info.group_context)));
  Bytes interim = interim_transcript_hash(suite, info.group_context.confirmed_transcript_hash, info.confirmation_tag);
  State state(suite, info.group_context, std::move(tree), std::move(private_tree), kp.signature_key,
              std::move(secrets), std::move(interim), std::move(validator));
  state.psks_ = psks;
  return state;
}

std::vector<std::pair<LeafIndex, const LeafNode*>> State::roster() const {
  std::vector<std::pair<LeafIndex, const LeafNode*>> out;
  for (std::uint32_t i = 0; i < tree_.leaf_count().value; ++i) {
    if (const LeafNode* leaf = tree_.leaf(LeafIndex(i))) out.emplace_back(LeafIndex(i), leaf);
  }
  return out;
}

// --- Persistence ----------------------------------------------------------------

namespace {
// Bumped whenever the saved layout changes; load() refuses other versions.
// 2 added the Update keys; version 1 saves still load.
constexpr std::uint16_t kSavedStateVersion = 2;
}  // namespace

SecretBytes State::save() const {
  tls::Writer w;
  w.u16(kSavedStateVersion);
  w.u16(suite_.id());
  tls::write(w, group_context_);
  tls::write(w, tree_.to_wire());
  w.u32(own_leaf().value);
  std::size_t mark = w.begin_vector();
  for (std::uint32_t node = 0; node < node_width(tree_.leaf_count()); ++node) {
    if (const crypto::PrivateKey* key = private_tree_.key(NodeIndex(node))) {
      w.u32(node);
      w.opaque(key->private_bytes());
    }
  }
  w.end_vector(mark);
  w.opaque(signature_key_.private_bytes());
  for (const SecretBytes* secret :
       {&secrets_.joiner_secret, &secrets_.welcome_secret, &secrets_.sender_data_secret, &secrets_.encryption_secret,
        &secrets_.exporter_secret, &secrets_.external_secret, &secrets_.confirmation_key, &secrets_.membership_key,
        &secrets_.resumption_psk, &secrets_.epoch_authenticator, &secrets_.init_secret})
    w.opaque(*secret);
  secret_tree_.save(w);
  w.opaque(interim_transcript_hash_);
  mark = w.begin_vector();
  for (const auto& p : pending_) {
    w.opaque(p.ref);
    tls::write(w, p.proposal);
    w.u32(p.sender.value);
  }
  w.end_vector(mark);
  mark = w.begin_vector();
  for (const auto& [epoch, psk] : resumption_psks_) {
    w.u64(epoch);
    w.opaque(psk);
  }
  w.end_vector(mark);
  mark = w.begin_vector();
  for (const auto& [encryption_key, key] : update_keys_) w.opaque(key.private_bytes());
  w.end_vector(mark);
  w.u8(reinit_ ? 1 : 0);
  if (reinit_) tls::write(w, *reinit_);
  Bytes plain = std::move(w).take();
  SecretBytes out = SecretBytes::copy_of(plain);
  secure_zero(plain);
  return out;
}

ErrorOr<State> State::load(BytesView saved, CredentialValidator validator, PskLookup psks) {
  tls::Reader r(saved);
  std::uint16_t version = TRY(r.u16());
  if (version != 1 && version != kSavedStateVersion)
    return Error::unsupported("saved group state has an unknown format version");
  crypto::CipherSuite suite = TRY(crypto::CipherSuite::from_id(TRY(r.u16())));
  GroupContext context;
  TRY(tls::read(r, context));
  if (static_cast<std::uint16_t>(context.cipher_suite) != suite.id())
    return Error::decode("saved group state names two cipher suites");
  RatchetTree wire;
  TRY(tls::read(r, wire));
  PublicTree tree = TRY(PublicTree::from_wire(suite, wire));
  if (tree.root_tree_hash() != context.tree_hash) return Error::decode("saved group state's tree does not match its context");
  LeafIndex own(TRY(r.u32()));
  if (tree.leaf(own) == nullptr) return Error::decode("saved group state's own leaf is blank");

  std::map<std::uint32_t, crypto::PrivateKey> held;
  tls::Reader keys = TRY(r.vector());
  while (!keys.empty()) {
    std::uint32_t node = TRY(keys.u32());
    crypto::PrivateKey key = TRY(suite.kem().private_key(TRY(keys.opaque())));
    if (!held.emplace(node, std::move(key)).second) return Error::decode("saved group state repeats a private key");
  }
  std::optional<PrivateTree> private_tree;
  if (auto leaf_key = held.find(to_node(own).value); leaf_key != held.end()) {
    private_tree.emplace(own, std::move(leaf_key->second));
    held.erase(leaf_key);
    for (auto& [node, key] : held) private_tree->set_key(NodeIndex(node), std::move(key));
  }
  if (!private_tree) return Error::decode("saved group state lacks its leaf key");
  TRY(private_tree->check_consistent(tree));
  crypto::PrivateKey signature_key = TRY(suite.signature().private_key(TRY(r.opaque())));

  EpochSecrets secrets;
  for (SecretBytes* secret :
       {&secrets.joiner_secret, &secrets.welcome_secret, &secrets.sender_data_secret, &secrets.encryption_secret,
        &secrets.exporter_secret, &secrets.external_secret, &secrets.confirmation_key, &secrets.membership_key,
        &secrets.resumption_psk, &secrets.epoch_authenticator, &secrets.init_secret}) {
    BytesView value = TRY(r.opaque());
    if (value.size() != suite.hash().size()) return Error::decode("saved group state has a secret of the wrong length");
    *secret = SecretBytes::copy_of(value);
  }
  SecretTree secret_tree = TRY(SecretTree::load(suite, r));
  if (secret_tree.leaf_count() != tree.leaf_count()) return Error::decode("saved secret tree does not fit the ratchet tree");
  Bytes interim = to_bytes(TRY(r.opaque()));

  State state(suite, std::move(context), std::move(tree), std::move(*private_tree), std::move(signature_key),
              std::move(secrets), std::move(interim), std::move(validator));
  state.secret_tree_ = std::move(secret_tree);
  state.psks_ = std::move(psks);
  tls::Reader pending = TRY(r.vector());
  while (!pending.empty()) {
    CachedProposal p;
    p.ref = to_bytes(TRY(pending.opaque()));
    TRY(tls::read(pending, p.proposal));
    p.sender = LeafIndex(TRY(pending.u32()));
    state.pending_.push_back(std::move(p));
  }
  tls::Reader resumption = TRY(r.vector());
  while (!resumption.empty()) {
    std::uint64_t epoch = TRY(resumption.u64());
    state.resumption_psks_.emplace(epoch, SecretBytes::copy_of(TRY(resumption.opaque())));
  }
  if (version >= 2) {
    tls::Reader updates = TRY(r.vector());
    while (!updates.empty()) {
      crypto::PrivateKey key = TRY(suite.kem().private_key(TRY(updates.opaque())));
      if (!state.update_keys_.emplace(to_bytes(key.public_key().bytes()), std::move(key)).second)
        return Error::decode("saved group state repeats an update key");
    }
    std::uint8_t ended = TRY(r.u8());
    if (ended > 1) return Error::decode("saved group state has a bad ReInit flag");
    if (ended == 1) {
      ReInit reinit;
      TRY(tls::read(r, reinit));
      state.reinit_ = std::move(reinit);
    }
  }
  TRY(r.finish());
  return state;
}

// --- Framing ------------------------------------------------------------------

AuthenticatedContent State::sign_new(Content content, WireFormat wire_format, BytesView authenticated_data) const {
  AuthenticatedContent ac;
  ac.wire_format = wire_format;
  ac.content.group_id = group_context_.group_id;
  ac.content.epoch = group_context_.epoch;
  ac.content.sender = Sender{MemberSender{own_leaf()}};
  ac.content.authenticated_data = to_bytes(authenticated_data);
  ac.content.content = std::move(content);
  return ac;
}

ErrorOr<MlsMessage> State::frame(AuthenticatedContent content, bool encrypt) {
  MlsMessage message;
  if (encrypt) {
    message.message = TRY(protect_private(suite_, content, group_context_,
                                          {secret_tree_, secrets_.sender_data_secret}));
  } else {
    message.message = TRY(protect_public(suite_, content, group_context_, secrets_.membership_key));
  }
  return message;
}

ErrorOr<AuthenticatedContent> State::open(const MlsMessage& message) {
  if (message.version != ProtocolVersion::kMls10) return Error::unsupported("MLS message is not MLS 1.0");
  AuthenticatedContent content;
  if (const auto* pub = std::get_if<PublicMessage>(&message.message)) {
    content = TRY(unprotect_public(suite_, *pub, group_context_, secrets_.membership_key));
  } else if (const auto* priv = std::get_if<PrivateMessage>(&message.message)) {
    content = TRY(unprotect_private(suite_, *priv, group_context_, {secret_tree_, secrets_.sender_data_secret}));
  } else {
    return Error::invalid_argument("not a group message (PublicMessage or PrivateMessage)");
  }
  if (std::holds_alternative<NewMemberCommitSender>(content.content.sender.value)) {
    // An external commit: signed by the key in its own UpdatePath, which
    // handle_commit checks once it has the path.
    if (content.content.content_type() != ContentType::kCommit)
      return Error::decode("a new-member-commit sender sent something other than a commit");
    return content;
  }
  if (const auto* external = std::get_if<ExternalSenderIndex>(&content.content.sender.value)) {
    // §12.1.8.1: only as a PublicMessage, only proposals of the kinds an
    // outsider may make, signed by the key the group lists for the index.
    if (!std::holds_alternative<PublicMessage>(message.message))
      return Error::decode("an external sender's message must be a PublicMessage");
    if (content.content.content_type() != ContentType::kProposal)
      return Error::decode("an external sender may only send proposals");
    const Proposal& proposal = std::get<Proposal>(content.content.content);
    if (!std::holds_alternative<Add>(proposal.value) && !std::holds_alternative<Remove>(proposal.value) &&
        !std::holds_alternative<PreSharedKey>(proposal.value) && !std::holds_alternative<ReInit>(proposal.value) &&
        !std::holds_alternative<GroupContextExtensions>(proposal.value))
      return Error::decode("an external sender may not send this kind of proposal");
    const Extension* ext = group_context_.extensions.find(ExtensionType::kExternalSenders);
    if (ext == nullptr) return Error::decode("message from an external sender, but the group has none");
    auto senders = TRY(tls::decode<std::vector<ExternalSender>>(ext->extension_data));
    if (external->sender_index >= senders.size())
      return Error::decode("external sender index is beyond the group's external senders");
    auto key = suite_.signature().public_key(senders[external->sender_index].signature_key);
    if (!key) return Error::decode("the group's external sender has a malformed signature key");
    TRY(verify_signature(suite_, content, group_context_, *key));
    return content;
  }
  if (std::holds_alternative<NewMemberProposalSender>(content.content.sender.value)) {
    // A would-be member's Add, signed by its own key package (§12.1.8).
    if (!std::holds_alternative<PublicMessage>(message.message))
      return Error::decode("a new member's proposal must be a PublicMessage");
    const auto* proposal = content.content.content_type() == ContentType::kProposal
                               ? std::get_if<Add>(&std::get<Proposal>(content.content.content).value)
                               : nullptr;
    if (proposal == nullptr) return Error::decode("a new-member-proposal sender may only propose an Add");
    TRY(validate_key_package(suite_, proposal->key_package));
    crypto::PublicKey key = TRY(signature_key_of(suite_, proposal->key_package.leaf_node));
    TRY(verify_signature(suite_, content, group_context_, key));
    return content;
  }
  const auto* member = std::get_if<MemberSender>(&content.content.sender.value);
  if (member == nullptr) return Error::decode("message has an unknown sender type");
  const LeafNode* leaf = tree_.leaf(member->leaf_index);
  if (leaf == nullptr) return Error::decode("message sender is not a member");
  crypto::PublicKey sender_key = TRY(signature_key_of(suite_, *leaf));
  TRY(verify_signature(suite_, content, group_context_, sender_key));
  return content;
}

ErrorOr<MlsMessage> State::protect(BytesView application_data, BytesView authenticated_data, std::size_t padding) {
  TRY(check_not_ended());
  AuthenticatedContent content =
      sign_new(ApplicationData{to_bytes(application_data)}, WireFormat::kPrivateMessage, authenticated_data);
  content.auth.signature =
      TRY(sign_content(suite_, content.wire_format, content.content, group_context_, signature_key_));
  MlsMessage message;
  message.message = TRY(protect_private(suite_, content, group_context_,
                                        {secret_tree_, secrets_.sender_data_secret}, padding));
  return message;
}

ErrorOr<Received> State::unprotect(const MlsMessage& message) {
  AuthenticatedContent content = TRY(open(message));
  Received out;
  if (const auto* external = std::get_if<ExternalSenderIndex>(&content.content.sender.value)) {
    out.kind = Received::Kind::kProposal;
    out.external_sender = external->sender_index;
    out.authenticated_data = content.content.authenticated_data;
    TRY(record_proposal(content));
    return out;
  }
  if (std::holds_alternative<NewMemberProposalSender>(content.content.sender.value)) {
    out.kind = Received::Kind::kProposal;
    out.external_sender = Received::kNewMember;
    out.authenticated_data = content.content.authenticated_data;
    TRY(record_proposal(content));
    return out;
  }
  if (!std::holds_alternative<MemberSender>(content.content.sender.value))
    return Error::invalid_argument("a commit must go to handle_commit, which yields the next epoch");
  out.sender = std::get<MemberSender>(content.content.sender.value).leaf_index;
  out.authenticated_data = content.content.authenticated_data;
  switch (content.content.content_type()) {
    case ContentType::kApplication:
      out.kind = Received::Kind::kApplication;
      out.application_data = std::move(std::get<ApplicationData>(content.content.content).data);
      return out;
    case ContentType::kProposal:
      out.kind = Received::Kind::kProposal;
      TRY(record_proposal(content));
      return out;
    case ContentType::kCommit:
    case ContentType::kReserved:
      break;
  }
  return Error::invalid_argument("a commit must go to handle_commit, which yields the next epoch");
}

// --- Proposals ----------------------------------------------------------------

namespace {

ErrorOr<MlsMessage> outsider_proposal(const crypto::CipherSuite& suite, const GroupContext& context, Sender sender,
                                      const crypto::PrivateKey& signature_key, Proposal proposal) {
  AuthenticatedContent content;
  content.wire_format = WireFormat::kPublicMessage;
  content.content.group_id = context.group_id;
  content.content.epoch = context.epoch;
  content.content.sender = std::move(sender);
  content.content.content = std::move(proposal);
  content.auth.signature = TRY(sign_content(suite, WireFormat::kPublicMessage, content.content, context, signature_key));
  return MlsMessage{ProtocolVersion::kMls10, TRY(protect_public(suite, content, context, {}))};
}

}  // namespace

ErrorOr<MlsMessage> external_proposal(const crypto::CipherSuite& suite, const GroupContext& context,
                                      std::uint32_t sender_index, const crypto::PrivateKey& signature_key,
                                      Proposal proposal) {
  if (std::holds_alternative<Update>(proposal.value) || std::holds_alternative<ExternalInit>(proposal.value))
    return Error::invalid_argument("an external sender may not send this kind of proposal");
  return outsider_proposal(suite, context, Sender{ExternalSenderIndex{sender_index}}, signature_key, std::move(proposal));
}

ErrorOr<MlsMessage> new_member_proposal(const crypto::CipherSuite& suite, const GroupContext& context,
                                        const KeyPackageBundle& key_package) {
  return outsider_proposal(suite, context, Sender{NewMemberProposalSender{}}, key_package.signature_key,
                           Proposal{Add{key_package.key_package}});
}

ErrorOr<void> State::handle_proposal(const MlsMessage& message) {
  AuthenticatedContent content = TRY(open(message));
  if (content.content.content_type() != ContentType::kProposal) return Error::invalid_argument("not a proposal");
  return record_proposal(content);
}

ErrorOr<void> State::record_proposal(const AuthenticatedContent& content) {
  const Proposal& proposal = std::get<Proposal>(content.content.content);
  // Outsiders' proposals carry no leaf; kExternalSender marks them.
  LeafIndex sender(kExternalSender);
  if (const auto* member = std::get_if<MemberSender>(&content.content.sender.value)) sender = member->leaf_index;
  if (const auto* update = std::get_if<Update>(&proposal.value)) {
    if (sender.value == kExternalSender) return Error::decode("an update proposal must come from a member");
    TRY(validate_update(suite_, tree_, group_context_.group_id, sender, update->leaf_node, validator_));
  }
  if (const auto* remove = std::get_if<Remove>(&proposal.value); remove && tree_.leaf(remove->removed) == nullptr)
    return Error::decode("remove proposal names a blank or missing leaf");
  if (const auto* add = std::get_if<Add>(&proposal.value)) TRY(validate_key_package(suite_, add->key_package));
  if (const auto* gce = std::get_if<GroupContextExtensions>(&proposal.value)) {
    if (const Extension* ext = gce->extensions.find(ExtensionType::kExternalSenders))
      TRY(tls::decode<std::vector<ExternalSender>>(ext->extension_data));
  }
  pending_.push_back({proposal_ref(suite_, content), proposal, sender});
  return {};
}

ErrorOr<MlsMessage> State::propose_update() {
  TRY(check_not_ended());
  LeafNode leaf = *tree_.leaf(own_leaf());
  crypto::PrivateKey key = TRY(suite_.kem().generate());
  leaf.encryption_key = to_bytes(key.public_key().bytes());
  leaf.source = LeafNodeUpdateSource{};
  leaf.signature = TRY(suite_.sign_with_label(signature_key_, "LeafNodeTBS",
                                              tls::encode(LeafNodeTbs::of(leaf, group_context_.group_id, own_leaf()))));
  Bytes encryption_key = leaf.encryption_key;
  AuthenticatedContent content = sign_new(Proposal{Update{std::move(leaf)}}, WireFormat::kPublicMessage, {});
  content.auth.signature = TRY(sign_content(suite_, content.wire_format, content.content, group_context_, signature_key_));
  MlsMessage message = TRY(frame(content, false));
  pending_.push_back({proposal_ref(suite_, content), std::get<Proposal>(content.content.content), own_leaf()});
  update_keys_.insert_or_assign(std::move(encryption_key), std::move(key));
  return message;
}

ErrorOr<MlsMessage> State::propose_add(const KeyPackage& key_package) {
  TRY(check_not_ended());
  TRY(validate_key_package(suite_, key_package));
  AuthenticatedContent content = sign_new(Proposal{Add{key_package}}, WireFormat::kPublicMessage, {});
  content.auth.signature = TRY(sign_content(suite_, content.wire_format, content.content, group_context_, signature_key_));
  pending_.push_back({proposal_ref(suite_, content), std::get<Proposal>(content.content.content), own_leaf()});
  return frame(std::move(content), false);
}

ErrorOr<MlsMessage> State::propose_remove(LeafIndex member) {
  TRY(check_not_ended());
  if (tree_.leaf(member) == nullptr) return Error::invalid_argument("no member at that leaf");
  AuthenticatedContent content = sign_new(Proposal{Remove{member}}, WireFormat::kPublicMessage, {});
  content.auth.signature = TRY(sign_content(suite_, content.wire_format, content.content, group_context_, signature_key_));
  pending_.push_back({proposal_ref(suite_, content), std::get<Proposal>(content.content.content), own_leaf()});
  return frame(std::move(content), false);
}

ErrorOr<std::vector<State::CachedProposal>> State::resolve(const Commit& commit, LeafIndex committer) const {
  std::vector<CachedProposal> out;
  for (const auto& entry : commit.proposals) {
    if (const auto* ref = std::get_if<ProposalRef>(&entry.value)) {
      auto it = std::find_if(pending_.begin(), pending_.end(), [&](const CachedProposal& p) { return p.ref == *ref; });
      if (it == pending_.end()) return Error::not_found("commit references a proposal this member has not received");
      out.push_back(*it);
    } else {
      out.push_back({{}, std::get<Proposal>(entry.value), committer});
    }
  }
  return out;
}

namespace {

// §12.2 validation and §12.3 application, shared by committer and receivers.
ErrorOr<Applied> apply_proposals(const crypto::CipherSuite& suite, const PublicTree& base, const GroupContext& context,
                                 std::optional<LeafIndex> committer,
                                 LeafIndex own, const CredentialValidator& validator,
                                 const std::vector<std::pair<LeafIndex, const Proposal*>>& proposals) {
  Applied a{base, context.extensions, {}, {}, {}, proposals.empty(), false, false, std::nullopt};
  const GroupContextExtensions* gce = nullptr;
  int external_inits = 0;
  std::vector<std::pair<LeafIndex, const Update*>> updates;
  std::vector<LeafIndex> removes;
  std::vector<const Add*> adds;
  std::set<Bytes> psk_ids;
  for (const auto& [sender, proposal] : proposals) {
    if (const auto* p = std::get_if<Update>(&proposal->value)) {
      if (sender == committer) return Error::decode("a commit may not include an update from its committer");
      updates.emplace_back(sender, p);
      a.path_required = true;
    } else if (const auto* r = std::get_if<Remove>(&proposal->value)) {
      if (base.leaf(r->removed) == nullptr) return Error::decode("remove proposal names a blank or missing leaf");
      if (r->removed == committer) return Error::decode("a commit may not remove its committer");
      if (std::find(removes.begin(), removes.end(), r->removed) != removes.end())
        return Error::decode("commit removes the same member twice");
      removes.push_back(r->removed);
      a.path_required = true;
    } else if (const auto* add = std::get_if<Add>(&proposal->value)) {
      adds.push_back(add);
    } else if (const auto* psk = std::get_if<PreSharedKey>(&proposal->value)) {
      if (psk->psk.psk_nonce.size() != suite.hash().size()) return Error::decode("PSK nonce is not Nh bytes long");
      if (!psk_ids.insert(tls::encode(psk->psk)).second) return Error::decode("commit names the same PSK twice");
      // §8.6: reinit and branch PSKs belong to a new group's first commit.
      const auto* resumption = std::get_if<ResumptionPsk>(&psk->psk.psk);
      if (resumption && resumption->usage != ResumptionPskUsage::kApplication && context.epoch != 0)
        return Error::decode("a reinit or branch PSK may only be used in a new group's first commit");
      a.psks.push_back(psk->psk);
    } else if (const auto* ext = std::get_if<GroupContextExtensions>(&proposal->value)) {
      if (gce) return Error::decode("commit has more than one group context extensions proposal");
      gce = ext;
      a.path_required = true;
    } else if (const auto* reinit = std::get_if<ReInit>(&proposal->value)) {
      // §12.2: a ReInit stands alone; the version never goes down.
      if (proposals.size() != 1) return Error::decode("a commit with a ReInit proposal may contain no other proposal");
      if (reinit->version != ProtocolVersion::kMls10)
        return Error::unsupported("ReInit names a protocol version other than MLS 1.0");
      TRY(crypto::CipherSuite::from_id(static_cast<std::uint16_t>(reinit->cipher_suite)));
      a.reinit = *reinit;
    } else if (std::holds_alternative<ExternalInit>(proposal->value)) {
      if (committer) return Error::decode("external init in a member's commit");
      ++external_inits;
      a.path_required = true;
    } else {
      return Error::unsupported("unknown proposal type");
    }
  }
  if (!committer) {
    // An external commit (§12.4.3.2): exactly one ExternalInit, at most one
    // Remove (the joiner's old leaf), PSKs; nothing else.
    if (external_inits != 1) return Error::decode("external commit needs exactly one external init proposal");
    if (removes.size() > 1 || !updates.empty() || !adds.empty() || gce)
      return Error::decode("external commit carries proposals it may not");
  }

  if (gce) {
    if (const Extension* ext = gce->extensions.find(ExtensionType::kExternalSenders))
      TRY(tls::decode<std::vector<ExternalSender>>(ext->extension_data));
    a.extensions = gce->extensions;
  }
  std::set<std::uint32_t> updated;
  for (auto [sender, update] : updates) {
    if (std::find(removes.begin(), removes.end(), sender) != removes.end())
      return Error::decode("commit both updates and removes the same member");
    if (!updated.insert(sender.value).second) return Error::decode("commit updates the same member twice");
    TRY(validate_update(suite, base, context.group_id, sender, update->leaf_node, validator));
    if (sender == own) a.updates_us = true;
    TRY(a.tree.update_leaf(sender, update->leaf_node));
  }
  for (LeafIndex removed : removes) {
    if (removed == own) a.removes_us = true;
    TRY(a.tree.remove_leaf(removed));
  }
  // Only Adds need every member's key: a commit without them stays O(log n).
  std::set<Bytes> signature_keys;
  for (std::uint32_t i = 0; i < a.tree.leaf_count().value && !adds.empty(); ++i) {
    if (const LeafNode* leaf = a.tree.leaf(LeafIndex(i))) signature_keys.insert(leaf->signature_key);
  }
  for (const Add* add : adds) {
    TRY(validate_key_package(suite, add->key_package));
    TRY(validator(add->key_package.leaf_node.credential, add->key_package.leaf_node.signature_key));
    if (!signature_keys.insert(add->key_package.leaf_node.signature_key).second)
      return Error::decode("added member's signature key is already in the group");
    LeafIndex index = a.tree.add_leaf(add->key_package.leaf_node);
    a.new_leaves.insert(index.value);
    a.added.emplace_back(index, add->key_package);
  }
  return a;
}

std::vector<std::pair<LeafIndex, const Proposal*>> view(const auto& cached) {
  std::vector<std::pair<LeafIndex, const Proposal*>> out;
  for (const auto& c : cached) out.emplace_back(c.sender, &c.proposal);
  return out;
}

}  // namespace

// --- Commits ----------------------------------------------------------------

ErrorOr<SecretBytes> State::psk_secret_for(const std::vector<PreSharedKeyId>& ids) const {
  std::vector<SecretBytes> keys;
  std::vector<Bytes> encoded;
  for (const auto& id : ids) {
    const auto* resumption = std::get_if<ResumptionPsk>(&id.psk);
    if (resumption && resumption->psk_group_id == group_context_.group_id) {
      // Our own group's earlier epochs (§8.6); the current one is in secrets_.
      if (resumption->usage != ResumptionPskUsage::kApplication)
        return Error::unsupported("resumption PSKs for reinit or branch are not supported yet");
      if (resumption->psk_epoch == group_context_.epoch) {
        keys.push_back(secrets_.resumption_psk.clone());
      } else {
        auto it = resumption_psks_.find(resumption->psk_epoch);
        if (it == resumption_psks_.end())
          return Error::not_found("commit uses a resumption PSK of an epoch this member no longer holds");
        keys.push_back(it->second.clone());
      }
    } else {
      if (!psks_) return Error::not_found("commit uses a pre-shared key this member does not hold");
      keys.push_back(TRY(psks_(id)));
    }
    encoded.push_back(tls::encode(id));
  }
  std::vector<PskInput> inputs;
  for (std::size_t i = 0; i < ids.size(); ++i) inputs.push_back({encoded[i], keys[i]});
  return psk_secret(suite_, inputs);
}

void State::inherit(State& next) const {
  next.psks_ = psks_;
  for (const auto& [epoch, psk] : resumption_psks_) next.resumption_psks_.emplace(epoch, psk.clone());
  next.resumption_psks_.emplace(group_context_.epoch, secrets_.resumption_psk.clone());
  while (next.resumption_psks_.size() > kResumptionEpochs) next.resumption_psks_.erase(next.resumption_psks_.begin());
}

ErrorOr<CommitResult> State::commit(const CommitOptions& options) {
  TRY(check_not_ended());
  // The committer chooses among the pending proposals (§12.2): our own
  // Updates stay out (our path replaces our leaf), and of several Updates or
  // Updates and a Remove for one leaf only the Remove or the latest Update.
  std::set<std::uint32_t> removed, updated;
  for (const auto& p : options.proposals)
    if (const auto* r = std::get_if<Remove>(&p.value)) removed.insert(r->removed.value);
  for (const auto& p : pending_)
    if (const auto* r = std::get_if<Remove>(&p.proposal.value)) removed.insert(r->removed.value);
  std::vector<bool> keep(pending_.size(), true);
  for (std::size_t i = pending_.size(); i-- > 0;) {
    if (!std::holds_alternative<Update>(pending_[i].proposal.value)) continue;
    std::uint32_t sender = pending_[i].sender.value;
    keep[i] = sender != own_leaf().value && !removed.contains(sender) && updated.insert(sender).second;
  }
  std::vector<CachedProposal> proposals;
  for (std::size_t i = 0; i < pending_.size(); ++i)
    if (keep[i]) proposals.push_back(pending_[i]);
  std::size_t by_reference = proposals.size();
  for (const auto& p : options.proposals) proposals.push_back({{}, p, own_leaf()});
  Applied a = TRY(apply_proposals(suite_, tree_, group_context_, own_leaf(), own_leaf(), validator_,
                                  view(proposals)));

  GroupContext next = group_context_;
  next.epoch += 1;
  next.extensions = a.extensions;
  PrivateTree private_tree = private_tree_;
  private_tree.prune(a.tree);
  SecretBytes commit_secret = SecretBytes::copy_of(zeros(suite_));

  Commit commit;
  for (std::size_t i = 0; i < by_reference; ++i) commit.proposals.push_back(ProposalOrRef{proposals[i].ref});
  for (const auto& p : options.proposals) commit.proposals.push_back(ProposalOrRef{p});
  std::optional<CreatedPath> created;
  if (a.path_required || options.force_path) {
    created = TRY(create_update_path(suite_, a.tree, private_tree, *a.tree.leaf(own_leaf()), signature_key_,
                                     group_context_.group_id, a.new_leaves, provisional_context(next)));
    commit_secret = created->commit_secret.clone();
    commit.path = created->path;
  }

  WireFormat wire_format = options.encrypt ? WireFormat::kPrivateMessage : WireFormat::kPublicMessage;
  AuthenticatedContent content = sign_new(commit, wire_format, {});
  content.auth.signature = TRY(sign_content(suite_, wire_format, content.content, group_context_, signature_key_));
  Bytes confirmed = confirmed_transcript_hash(suite_, interim_transcript_hash_, content);
  next.tree_hash = a.tree.root_tree_hash();
  next.confirmed_transcript_hash = confirmed;

  SecretBytes psk = TRY(psk_secret_for(a.psks));
  EpochSecrets secrets = TRY(EpochSecrets::derive(suite_, secrets_.init_secret, commit_secret, psk, tls::encode(next)));
  Mac tag = confirmation_tag(suite_, secrets.confirmation_key, confirmed);
  content.auth.confirmation_tag = tag;
  MlsMessage message = TRY(frame(content, options.encrypt));

  std::optional<MlsMessage> welcome_message;
  if (!a.added.empty()) {
    GroupInfo info;
    info.group_context = next;
    if (options.inline_tree)
      info.extensions.extensions.push_back({ExtensionType::kRatchetTree, tls::encode(a.tree.to_wire())});
    crypto::PrivateKey external = TRY(secrets.external_key_pair(suite_));
    info.extensions.extensions.push_back(
        {ExtensionType::kExternalPub, tls::encode(ExternalPubExtension{to_bytes(external.public_key().bytes())})});
    info.confirmation_tag = tag;
    info.signer = own_leaf();
    info.signature = TRY(sign_group_info(suite_, info, signature_key_));
    WelcomeKey key = TRY(welcome_key(suite_, secrets.welcome_secret));
    Welcome welcome;
    welcome.cipher_suite = static_cast<CipherSuiteId>(suite_.id());
    welcome.encrypted_group_info = TRY(suite_.aead().seal(key.key, key.nonce, {}, tls::encode(info)));
    for (const auto& [index, kp] : a.added) {
      GroupSecrets secrets_for;
      secrets_for.joiner_secret = secrets.joiner_secret.clone();
      secrets_for.psks = a.psks;
      if (created) {
        NodeIndex ancestor = common_ancestor(to_node(own_leaf()), to_node(index));
        for (std::size_t i = 0; i < created->nodes.size(); ++i) {
          if (created->nodes[i] == ancestor) secrets_for.path_secret = PathSecret{created->path_secrets[i].clone()};
        }
      }
      crypto::PublicKey init_key = TRY(suite_.kem().public_key(kp.init_key));
      Bytes plain = tls::encode(secrets_for);
      auto sealed = suite_.encrypt_with_label(init_key, "Welcome", welcome.encrypted_group_info, plain);
      secure_zero(plain);
      welcome.secrets.push_back({key_package_ref(suite_, kp), TRY(std::move(sealed))});
    }
    welcome_message = MlsMessage{ProtocolVersion::kMls10, std::move(welcome)};
  }

  Bytes interim = interim_transcript_hash(suite_, confirmed, tag);
  State state(suite_, std::move(next), std::move(a.tree), std::move(private_tree), signature_key_, std::move(secrets),
              std::move(interim), validator_);
  inherit(state);
  state.reinit_ = std::move(a.reinit);
  return CommitResult{std::move(message), std::move(welcome_message), std::move(state)};
}

ErrorOr<State> State::handle_commit(const MlsMessage& message) {
  AuthenticatedContent content = TRY(open(message));
  if (content.content.content_type() != ContentType::kCommit) return Error::invalid_argument("not a commit");
  if (reinit_) return Error::invalid_argument("the group has ended with a ReInit: no further commits apply");
  const Commit& commit = std::get<Commit>(content.content.content);
  bool external = std::holds_alternative<NewMemberCommitSender>(content.content.sender.value);

  std::vector<CachedProposal> proposals;
  std::optional<LeafIndex> committer;
  PublicTree base = tree_;
  if (external) {
    if (!commit.path) return Error::decode("external commit lacks its update path");
    crypto::PublicKey key = TRY(signature_key_of(suite_, commit.path->leaf_node));
    TRY(verify_signature(suite_, content, group_context_, key));
    for (const auto& entry : commit.proposals) {
      const auto* p = std::get_if<Proposal>(&entry.value);
      if (p == nullptr) return Error::decode("external commit refers to proposals by reference");
      proposals.push_back({{}, *p, LeafIndex(UINT32_MAX)});
    }
  } else {
    committer = std::get<MemberSender>(content.content.sender.value).leaf_index;
    if (*committer == own_leaf()) return Error::invalid_argument("our own commit: keep the State commit() returned");
    proposals = TRY(resolve(commit, *committer));
    for (const auto& entry : commit.proposals) {
      if (const auto* p = std::get_if<Proposal>(&entry.value); p && std::holds_alternative<Update>(p->value))
        return Error::decode("a commit may not carry an update proposal by value");
    }
  }
  Applied a = TRY(apply_proposals(suite_, base, group_context_, committer, own_leaf(), validator_, view(proposals)));
  if (a.removes_us) return Error::not_found("this member was removed from the group by the commit");
  if (a.path_required && !commit.path) return Error::decode("commit lacks the update path its proposals require");

  // The external joiner's leaf goes where an Add would put it (§12.4.3.2);
  // its path then replaces it.
  SecretBytes init_secret = secrets_.init_secret.clone();
  if (external) {
    committer = a.tree.add_leaf(commit.path->leaf_node);
    const ExternalInit* init = nullptr;
    for (const auto& p : proposals)
      if (const auto* e = std::get_if<ExternalInit>(&p.proposal.value)) init = e;
    crypto::PrivateKey external_key = TRY(secrets_.external_key_pair(suite_));
    crypto::HpkeContext hpke = TRY(suite_.hpke().setup_receiver(init->kem_output, external_key, {}));
    init_secret = TRY(hpke.export_secret(as_bytes("MLS 1.0 external init secret"), suite_.hash().size()));
  }
  GroupContext next = group_context_;
  next.epoch += 1;
  next.extensions = a.extensions;
  PrivateTree private_tree = private_tree_;
  private_tree.prune(a.tree);
  if (a.updates_us) {
    // Our Update was committed: its leaf key, kept since we proposed it.
    auto key = update_keys_.find(a.tree.leaf(own_leaf())->encryption_key);
    if (key == update_keys_.end()) return Error::decode("commit applies an update of our leaf that we did not propose");
    private_tree.set_key(to_node(own_leaf()), key->second);
  }
  SecretBytes commit_secret = SecretBytes::copy_of(zeros(suite_));
  if (commit.path) {
    TRY(validator_(commit.path->leaf_node.credential, commit.path->leaf_node.signature_key));
    AppliedPath applied = TRY(apply_update_path(suite_, a.tree, private_tree, *committer, *commit.path,
                                                group_context_.group_id, a.new_leaves, provisional_context(next)));
    commit_secret = std::move(applied.commit_secret);
  }
  if (!content.auth.confirmation_tag) return Error::decode("commit lacks its confirmation tag");

  Bytes confirmed = confirmed_transcript_hash(suite_, interim_transcript_hash_, content);
  next.tree_hash = a.tree.root_tree_hash();
  next.confirmed_transcript_hash = confirmed;
  SecretBytes psk = TRY(psk_secret_for(a.psks));
  EpochSecrets secrets = TRY(EpochSecrets::derive(suite_, init_secret, commit_secret, psk, tls::encode(next)));
  TRY(verify_confirmation_tag(suite_, secrets.confirmation_key, confirmed, *content.auth.confirmation_tag));

  Bytes interim = interim_transcript_hash(suite_, confirmed, *content.auth.confirmation_tag);
  State state(suite_, std::move(next), std::move(a.tree), std::move(private_tree), signature_key_, std::move(secrets),
              std::move(interim), validator_);
  inherit(state);
  state.reinit_ = std::move(a.reinit);
  return state;
}

}  // namespace pmos::mls

namespace pmos::mls {

ErrorOr<MlsMessage> State::group_info(bool inline_tree) const {
  GroupInfo info;
  info.group_context = group_context_;
  if (inline_tree) info.extensions.extensions.push_back({ExtensionType::kRatchetTree, tls::encode(tree_.to_wire())});
  crypto::PrivateKey external = TRY(secrets_.external_key_pair(suite_));
  info.extensions.extensions.push_back(
      {ExtensionType::kExternalPub, tls::encode(ExternalPubExtension{to_bytes(external.public_key().bytes())})});
  // The tag of the commit that began this epoch: MAC(confirmation_key,
  // confirmed_transcript_hash) (§8.2).
  info.confirmation_tag = confirmation_tag(suite_, secrets_.confirmation_key, group_context_.confirmed_transcript_hash);
  info.signer = own_leaf();
  info.signature = TRY(sign_group_info(suite_, info, signature_key_));
  return MlsMessage{ProtocolVersion::kMls10, std::move(info)};
}

ErrorOr<std::pair<MlsMessage, State>> State::join_external(const GroupInfo& info, const KeyPackageBundle& leaf,
                                                          const std::optional<RatchetTree>& tree_in,
                                                          CredentialValidator validator,
                                                          std::optional<LeafIndex> resync) {
  crypto::CipherSuite suite =
      TRY(crypto::CipherSuite::from_id(static_cast<std::uint16_t>(info.group_context.cipher_suite)));
  const Extension* pub_ext = info.extensions.find(ExtensionType::kExternalPub);
  if (pub_ext == nullptr) return Error::not_found("group info has no external_pub: the group does not allow external joins");
  ExternalPubExtension external_pub = TRY(tls::decode<ExternalPubExtension>(pub_ext->extension_data));
  PublicTree tree = TRY(verified_group_tree(suite, info, tree_in, validator));

  // init_secret from HPKE to external_pub (§8.3).
  crypto::PublicKey external_key = TRY(suite.kem().public_key(external_pub.external_pub));
  crypto::Hpke::Sender hpke = TRY(suite.hpke().setup_sender(external_key, {}));
  SecretBytes init_secret =
      TRY(hpke.context.export_secret(as_bytes("MLS 1.0 external init secret"), suite.hash().size()));

  Commit commit;
  commit.proposals.push_back(ProposalOrRef{Proposal{ExternalInit{hpke.enc}}});
  if (resync) {
    if (tree.leaf(*resync) == nullptr) return Error::invalid_argument("resync names a blank leaf");
    commit.proposals.push_back(ProposalOrRef{Proposal{Remove{*resync}}});
    TRY(tree.remove_leaf(*resync));
  }
  TRY(validator(leaf.key_package.leaf_node.credential, leaf.key_package.leaf_node.signature_key));
  LeafIndex own = tree.add_leaf(leaf.key_package.leaf_node);
  PrivateTree private_tree(own, leaf.encryption_key);

  GroupContext next = info.group_context;
  next.epoch += 1;
  CreatedPath created = TRY(create_update_path(suite, tree, private_tree, leaf.key_package.leaf_node,
                                               leaf.signature_key, info.group_context.group_id, {}, provisional_context(next)));
  commit.path = created.path;

  AuthenticatedContent content;
  content.wire_format = WireFormat::kPublicMessage;
  content.content.group_id = info.group_context.group_id;
  content.content.epoch = info.group_context.epoch;
  content.content.sender = Sender{NewMemberCommitSender{}};
  content.content.content = std::move(commit);
  content.auth.signature =
      TRY(sign_content(suite, WireFormat::kPublicMessage, content.content, info.group_context, leaf.signature_key));
  Bytes interim_before =
      interim_transcript_hash(suite, info.group_context.confirmed_transcript_hash, info.confirmation_tag);
  Bytes confirmed = confirmed_transcript_hash(suite, interim_before, content);
  next.tree_hash = tree.root_tree_hash();
  next.confirmed_transcript_hash = confirmed;
  EpochSecrets secrets =
      TRY(EpochSecrets::derive(suite, init_secret, created.commit_secret, zeros(suite), tls::encode(next)));
  Mac tag = confirmation_tag(suite, secrets.confirmation_key, confirmed);
  content.auth.confirmation_tag = tag;
  PublicMessage message = TRY(protect_public(suite, content, info.group_context, {}));

  Bytes interim = interim_transcript_hash(suite, confirmed, tag);
  State state(suite, std::move(next), std::move(tree), std::move(private_tree), leaf.signature_key, std::move(secrets),
              std::move(interim), std::move(validator));
  return std::pair<MlsMessage, State>{MlsMessage{ProtocolVersion::kMls10, std::move(message)}, std::move(state)};
}

}  // namespace pmos::mls

namespace pmos::mls {

ErrorOr<void> State::check_not_ended() const {
  if (reinit_) return Error::invalid_argument("the group has ended with a ReInit: continue in the new group (reinit())");
  return {};
}

ErrorOr<CommitResult> State::resume(ResumptionPskUsage usage, const crypto::CipherSuite& suite, Bytes group_id,
                                    ExtensionList extensions, KeyPackageBundle creator,
                                    const std::vector<KeyPackage>& members) const {
  // Only members of this group (by credential) move to the new one.
  auto is_member = [&](const LeafNode& leaf) {
    for (const auto& [index, member] : roster())
      if (member->credential == leaf.credential) return true;
    return false;
  };
  if (!is_member(creator.key_package.leaf_node)) return Error::invalid_argument("the new group's creator is not a member of this group");
  for (const auto& kp : members)
    if (!is_member(kp.leaf_node)) return Error::invalid_argument("a member of the new group is not a member of this group");

  PreSharedKeyId id{ResumptionPsk{usage, group_context_.group_id, group_context_.epoch},
                    crypto::random_bytes(suite.hash().size())};
  // The new group's first commit reads this group's resumption PSK through
  // its lookup; anything else goes to ours.
  auto psk = std::make_shared<SecretBytes>(secrets_.resumption_psk.clone());
  PskLookup outer = psks_;
  PskLookup lookup = [psk, id, outer](const PreSharedKeyId& wanted) -> ErrorOr<SecretBytes> {
    if (wanted.psk == id.psk) return psk->clone();
    if (!outer) return Error::not_found("commit uses a pre-shared key this member does not hold");
    return outer(wanted);
  };
  State fresh = TRY(create(suite, std::move(group_id), std::move(creator), std::move(extensions), validator_));
  fresh.psks_ = lookup;
  CommitOptions options;
  for (const auto& kp : members) options.proposals.push_back(Proposal{Add{kp}});
  options.proposals.push_back(Proposal{PreSharedKey{id}});
  CommitResult result = TRY(fresh.commit(options));
  result.next.psks_ = psks_;
  return result;
}

ErrorOr<CommitResult> State::reinit(KeyPackageBundle creator, const std::vector<KeyPackage>& members) const {
  if (!reinit_) return Error::invalid_argument("the group has not ended with a ReInit");
  crypto::CipherSuite suite = TRY(crypto::CipherSuite::from_id(static_cast<std::uint16_t>(reinit_->cipher_suite)));
  return resume(ResumptionPskUsage::kReinit, suite, reinit_->group_id, reinit_->extensions, std::move(creator), members);
}

ErrorOr<CommitResult> State::branch(Bytes group_id, KeyPackageBundle creator, const std::vector<KeyPackage>& members,
                                    ExtensionList extensions) const {
  TRY(check_not_ended());
  if (group_id == group_context_.group_id) return Error::invalid_argument("a branch needs a new group id");
  return resume(ResumptionPskUsage::kBranch, suite_, std::move(group_id), std::move(extensions), std::move(creator),
                members);
}

ErrorOr<State> State::join_resumed(const Welcome& welcome, const KeyPackageBundle& key_package,
                                   const std::optional<RatchetTree>& tree) const {
  ResumptionPskUsage expected = reinit_ ? ResumptionPskUsage::kReinit : ResumptionPskUsage::kBranch;
  auto ours = std::make_shared<int>(0);
  auto psk = std::make_shared<SecretBytes>(secrets_.resumption_psk.clone());
  Bytes group_id = group_context_.group_id;
  std::uint64_t epoch = group_context_.epoch;
  PskLookup outer = psks_;
  PskLookup lookup = [=](const PreSharedKeyId& id) -> ErrorOr<SecretBytes> {
    const auto* resumption = std::get_if<ResumptionPsk>(&id.psk);
    if (resumption == nullptr || resumption->psk_group_id != group_id) {
      if (!outer) return Error::not_found("Welcome requires a pre-shared key this client does not hold");
      return outer(id);
    }
    if (resumption->usage != expected)
      return Error::decode(expected == ResumptionPskUsage::kReinit
                               ? "Welcome's resumption PSK is not of usage reinit, as the ended group requires"
                               : "Welcome's resumption PSK is not of usage branch");
    if (resumption->psk_epoch != epoch)
      return Error::decode("Welcome's resumption PSK is for another epoch of the old group");
    ++*ours;
    return psk->clone();
  };
  State joined = TRY(join(welcome, key_package, tree, validator_, lookup));
  if (*ours != 1) return Error::decode("Welcome does not resume this group with exactly one resumption PSK");
  if (joined.epoch() != 1) return Error::decode("a resumed group's Welcome must be for its first epoch");
  if (reinit_) {
    if (joined.group_context_.group_id != reinit_->group_id ||
        static_cast<std::uint16_t>(reinit_->cipher_suite) != joined.suite_.id() ||
        joined.group_context_.extensions != reinit_->extensions)
      return Error::decode("the new group is not the one the ReInit named");
  } else {
    if (joined.suite_.id() != suite_.id()) return Error::decode("a branch must keep the cipher suite");
    if (joined.group_context_.group_id == group_context_.group_id) return Error::decode("a branch must have a new group id");
  }
  joined.psks_ = psks_;
  return joined;
}

}  // namespace pmos::mls

#pragma once

// An MLS group as seen by one member (RFC 9420 §8-§12): the epoch's group
// context, public and private ratchet tree, key schedule, secret tree,
// transcript hash and the proposals received in this epoch.
//
// Epochs are values: commit() and handle() of a commit return the next
// epoch's State and leave this one untouched, so a commit the relay refuses,
// or one that fails to verify, changes nothing. Within an epoch, protect()
// and unprotect() advance the secret tree's ratchets (forward secrecy) and
// handle() of a proposal records it: those mutate. Move-only, because the
// epoch's secrets are. Not synchronised: one thread owns a State. States of
// successive epochs share their trees' unchanged parts (public_tree.h), which
// neither writes, so they may be owned by different threads.

#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "pmos/base/bytes.h"
#include "pmos/base/error_or.h"
#include "pmos/crypto/cipher_suite.h"
#include "pmos/mls/key_schedule.h"
#include "pmos/mls/mls_message.h"
#include "pmos/mls/public_tree.h"
#include "pmos/mls/secret_tree.h"
#include "pmos/mls/treekem.h"
#include "pmos/mls/welcome_crypto.h"

namespace pmos::mls {

// The application's judgement of a member's credential (PMOS checks X.509
// device certificates against the org CA). Called for every leaf that enters
// the group: tree leaves on join, Adds, Updates and committers' new leaves.
using CredentialValidator = std::function<ErrorOr<void>(const Credential& credential,
                                                        BytesView signature_key)>;
// Accepts any credential; for tests and tools that check identities otherwise.
ErrorOr<void> accept_any_credential(const Credential&, BytesView);

// A key package with the private keys its owner keeps until it is used.
struct KeyPackageBundle {
  KeyPackage key_package;
  crypto::PrivateKey init_key;
  crypto::PrivateKey encryption_key;
  crypto::PrivateKey signature_key;

  // A fresh key package for `credential`, signed with `signature_key`.
  static ErrorOr<KeyPackageBundle> create(const crypto::CipherSuite& suite, Credential credential,
                                          crypto::PrivateKey signature_key,
                                          Lifetime lifetime = {0, UINT64_MAX});

  // The bundle with its private keys, for keeping it until a Welcome comes.
  // SECRET: store it encrypted.
  SecretBytes save() const;
  static ErrorOr<KeyPackageBundle> load(BytesView saved);
};

// Checks a key package from someone else (§10.1): suite, version, signature,
// leaf node source and signature, distinct init and encryption keys.
ErrorOr<void> validate_key_package(const crypto::CipherSuite& suite, const KeyPackage& key_package);

// What a received message turned out to be.
struct Received {
  enum class Kind : std::uint8_t { kApplication, kProposal, kCommit };
  Kind kind = Kind::kApplication;
  LeafIndex sender;             // for member senders
  Bytes application_data;       // kApplication
  Bytes authenticated_data;
  // A proposal from outside the group (§12.1.8): the index into the
  // external_senders extension, or kNewMember for a would-be member's Add.
  // `sender` is then meaningless.
  static constexpr std::uint32_t kNewMember = UINT32_MAX;
  std::optional<std::uint32_t> external_sender;
};

// Proposals from outside the group (§12.1.8.1), as PublicMessages for the
// epoch of `context`. An external sender (a server, say) signs with the key
// the group's external_senders extension lists at `sender_index`, and may
// propose Add, Remove, PreSharedKey, ReInit and GroupContextExtensions.
ErrorOr<MlsMessage> external_proposal(const crypto::CipherSuite& suite, const GroupContext& context,
                                      std::uint32_t sender_index, const crypto::PrivateKey& signature_key,
                                      Proposal proposal);
// A would-be member asking to be added (sender type new_member_proposal),
// signed with its key package's signature key.
ErrorOr<MlsMessage> new_member_proposal(const crypto::CipherSuite& suite, const GroupContext& context,
                                        const KeyPackageBundle& key_package);

struct CommitResult;

class State {
 public:
  // A new group whose only member is us.
  static ErrorOr<State> create(const crypto::CipherSuite& suite, Bytes group_id, KeyPackageBundle creator,
                               ExtensionList group_extensions = {},
                               CredentialValidator validator = accept_any_credential);

  // Joins from a Welcome with the key package it was made for. `tree` is
  // needed when the Welcome's GroupInfo lacks the ratchet_tree extension.
  static ErrorOr<State> join(const Welcome& welcome, const KeyPackageBundle& key_package,
                             const std::optional<RatchetTree>& tree = std::nullopt,
                             CredentialValidator validator = accept_any_credential,
                             const PskLookup& psks = {});

  // Joins by external commit (§12.4.3.2): from a GroupInfo that carries
  // external_pub, without anyone's Welcome. Returns the commit to send
  // (everyone else handles it like any commit) and our State in its epoch.
  // `resync` removes our own old leaf in the same commit.
  static ErrorOr<std::pair<MlsMessage, State>> join_external(
      const GroupInfo& group_info, const KeyPackageBundle& leaf,
      const std::optional<RatchetTree>& tree = std::nullopt,
      CredentialValidator validator = accept_any_credential, std::optional<LeafIndex> resync = std::nullopt);

  // A GroupInfo for this epoch (signed by us, with external_pub and the
  // ratchet tree), which lets a device join by external commit.
  ErrorOr<MlsMessage> group_info(bool inline_tree = true) const;

  State(State&&) = default;
  State& operator=(State&&) = default;

  // --- Proposals (sent as PublicMessages, recorded as our own) --------------
  ErrorOr<MlsMessage> propose_add(const KeyPackage& key_package);
  ErrorOr<MlsMessage> propose_remove(LeafIndex member);
  // Proposes replacing our own leaf with one under a fresh encryption key
  // (§12.1.2); credential, capabilities and extensions stay. The new private
  // key is kept (and saved) until another member's commit includes the
  // proposal by reference, or the epoch ends. Our own commits leave our
  // Updates out: their UpdatePath replaces our leaf anyway.
  ErrorOr<MlsMessage> propose_update();

  // --- Commits --------------------------------------------------------------
  struct CommitOptions {
    std::vector<Proposal> proposals;  // by value, besides the pending ones
    bool force_path = false;          // an UpdatePath even when not required
    bool inline_tree = true;          // the ratchet_tree extension in the Welcome
    bool encrypt = false;             // PrivateMessage instead of PublicMessage
  };
  // Commits the pending proposals plus `options.proposals`. This epoch is
  // unchanged except that an encrypted commit advances its handshake ratchet.
  ErrorOr<CommitResult> commit(const CommitOptions& options);

  // A commit from another member: the next epoch's State. Our own commits
  // are not handled (keep the CommitResult's `next`). This epoch is unchanged
  // except that decrypting advances its ratchet.
  ErrorOr<State> handle_commit(const MlsMessage& message);
  // A proposal: checked and recorded for the next commit. Members' proposals
  // and, from outside the group, those of the external_senders extension's
  // senders and new members' Adds (§12.1.8).
  ErrorOr<void> handle_proposal(const MlsMessage& message);

  // --- Re-initialisation and branching (§11.2, §11.3) -----------------------
  // Once a commit with a ReInit proposal (by value in CommitOptions, or by
  // reference) is applied, the group has ended: the State still receives,
  // but refuses to send or commit. reinit() then makes the new group the
  // ReInit describes (group id, suite, version, extensions) with the given
  // members, its first commit carrying the old group's last resumption PSK
  // (usage reinit). `creator` and `members` are key packages for the new
  // suite; every member must belong to the old group (same credential).
  const std::optional<ReInit>& ended_by_reinit() const { return reinit_; }
  ErrorOr<CommitResult> reinit(KeyPackageBundle creator, const std::vector<KeyPackage>& members) const;
  // A subgroup of this group's members (§11.3): a new group id, same suite
  // and version, this epoch's resumption PSK with usage branch.
  ErrorOr<CommitResult> branch(Bytes group_id, KeyPackageBundle creator, const std::vector<KeyPackage>& members,
                               ExtensionList extensions = {}) const;
  // Joins a group that reinit() or branch() of this group made, supplying
  // our resumption PSK. Checks that the Welcome uses exactly one resumption
  // PSK of this group, of this epoch, with usage reinit if this group ended
  // by a ReInit (and then that the new group is the one the ReInit named)
  // or branch otherwise.
  ErrorOr<State> join_resumed(const Welcome& welcome, const KeyPackageBundle& key_package,
                              const std::optional<RatchetTree>& tree = std::nullopt) const;

  // --- Application messages -------------------------------------------------
  ErrorOr<MlsMessage> protect(BytesView application_data, BytesView authenticated_data = {},
                              std::size_t padding = 0);
  // Application data (kApplication). Proposals are recorded; commits are an
  // error here (use handle_commit, which yields a new State).
  ErrorOr<Received> unprotect(const MlsMessage& message);

  // --- Persistence --------------------------------------------------------------
  // Everything needed to resume after a restart: tree, private keys, epoch
  // secrets, ratchet positions, pending proposals. SECRET: the caller stores
  // it encrypted (PMOS: in the SQLCipher chat store). Callbacks (credential
  // validator, PSK lookup) are not saved; load() takes them again.
  SecretBytes save() const;
  static ErrorOr<State> load(BytesView saved, CredentialValidator validator = accept_any_credential,
                             PskLookup psks = {});

  // --- Accessors ----------------------------------------------------------------
  // PSKs this member can supply for PreSharedKey proposals (external ones).
  void set_psk_lookup(PskLookup psks) { psks_ = std::move(psks); }

  const crypto::CipherSuite& suite() const { return suite_; }
  const GroupContext& group_context() const { return group_context_; }
  BytesView group_id() const { return group_context_.group_id; }
  std::uint64_t epoch() const { return group_context_.epoch; }
  LeafIndex own_leaf() const { return private_tree_.own_leaf(); }
  const PublicTree& tree() const { return tree_; }
  BytesView epoch_authenticator() const { return secrets_.epoch_authenticator; }
  ErrorOr<SecretBytes> export_secret(std::string_view label, BytesView context, std::uint16_t length) const {
    return secrets_.export_secret(suite_, label, context, length);
  }
  // The members' leaves by index (blank leaves omitted).
  std::vector<std::pair<LeafIndex, const LeafNode*>> roster() const;

 private:
  // Benchmarks build large steady-state groups directly (bench/mls_bench.cc);
  // tests forge correctly signed but otherwise bad messages (tests/).
  friend struct StateBenchAccess;
  friend struct StateTestAccess;

  struct CachedProposal {
    ProposalRef ref;
    Proposal proposal;
    LeafIndex sender;
  };

  State(crypto::CipherSuite suite, GroupContext context, PublicTree tree, PrivateTree private_tree,
        crypto::PrivateKey signature_key, EpochSecrets secrets, Bytes interim_transcript_hash,
        CredentialValidator validator);

  ErrorOr<AuthenticatedContent> open(const MlsMessage& message);
  ErrorOr<MlsMessage> frame(AuthenticatedContent content, bool encrypt);
  AuthenticatedContent sign_new(Content content, WireFormat wire_format, BytesView authenticated_data) const;
  ErrorOr<std::vector<CachedProposal>> resolve(const Commit& commit, LeafIndex committer) const;
  // Checks and records a proposal open() returned.
  ErrorOr<void> record_proposal(const AuthenticatedContent& content);

  // PSKs for a commit: our own group's resumption PSKs, else psks_.
  ErrorOr<SecretBytes> psk_secret_for(const std::vector<PreSharedKeyId>& ids) const;
  // Carries the PSK lookup and the resumption PSKs (this epoch's added)
  // into the next epoch's State.
  void inherit(State& next) const;

  // The sender recorded for proposals from outside the group.
  static constexpr std::uint32_t kExternalSender = UINT32_MAX;
  // How many past epochs' resumption PSKs a State keeps (§8.6).
  static constexpr std::size_t kResumptionEpochs = 16;

  crypto::CipherSuite suite_;
  GroupContext group_context_;
  PublicTree tree_;
  PrivateTree private_tree_;
  crypto::PrivateKey signature_key_;
  EpochSecrets secrets_;
  SecretTree secret_tree_;
  Bytes interim_transcript_hash_;
  std::vector<CachedProposal> pending_;
  CredentialValidator validator_;
  PskLookup psks_;
  std::map<std::uint64_t, SecretBytes> resumption_psks_;  // by epoch, excluding this one
  // Private keys of leaves we proposed in this epoch's Updates, by the
  // proposed leaf's encryption key.
  std::map<Bytes, crypto::PrivateKey> update_keys_;
  std::optional<ReInit> reinit_;  // set once a ReInit commit ended the group

  ErrorOr<void> check_not_ended() const;
  ErrorOr<CommitResult> resume(ResumptionPskUsage usage, const crypto::CipherSuite& suite, Bytes group_id,
                               ExtensionList extensions, KeyPackageBundle creator,
                               const std::vector<KeyPackage>& members) const;
};

// What commit() makes: the message for the relay, a Welcome for any added
// members, and our next epoch (use it once the relay accepts the commit).
struct CommitResult {
  MlsMessage commit;
  std::optional<MlsMessage> welcome;
  State next;
};

}  // namespace pmos::mls

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
// epoch's secrets are. Not synchronised: one thread owns a State.

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
};

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
  // A proposal: checked and recorded for the next commit.
  ErrorOr<void> handle_proposal(const MlsMessage& message);

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
  // Benchmarks build large steady-state groups directly (bench/mls_bench.cc).
  friend struct StateBenchAccess;

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

  // PSKs for a commit: our own group's resumption PSKs, else psks_.
  ErrorOr<SecretBytes> psk_secret_for(const std::vector<PreSharedKeyId>& ids) const;
  // Carries the PSK lookup and the resumption PSKs (this epoch's added)
  // into the next epoch's State.
  void inherit(State& next) const;

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
};

// What commit() makes: the message for the relay, a Welcome for any added
// members, and our next epoch (use it once the relay accepts the commit).
struct CommitResult {
  MlsMessage commit;
  std::optional<MlsMessage> welcome;
  State next;
};

}  // namespace pmos::mls

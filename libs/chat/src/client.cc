#include "pmos/chat/client.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "pmos/base/codec.h"
#include "pmos/crypto/aead.h"
#include "pmos/crypto/hash.h"
#include "pmos/crypto/random.h"
#include "pmos/crypto/signature.h"
#include "pmos/mls/mls_message.h"
#include "pmos/mls/state.h"
#include "pmos/mls/welcome_crypto.h"
#include "pmos/net/client.h"
#include "relay.pb.h"

namespace pmos::chat {

namespace {

namespace pb = ::pmos::relay::v1;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kInfoExtension = static_cast<mls::ExtensionType>(kConversationInfoExtension);
constexpr std::size_t kMaxCommitAttempts = 8;

std::int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string str(BytesView bytes) { return std::string(as_string(bytes)); }
BytesView view(const std::string& s) { return as_bytes(s); }

// A membership error from the MLS library that means "this commit removed
// us" rather than "this commit is bad".
bool removed_us(const Error& error) {
  return error.category() == ErrorCategory::kNotFound &&
         std::string_view(error.message()).find("removed from the group") != std::string_view::npos;
}

bool timed_out(const Error& error) {
  return error.category() == ErrorCategory::kSystem && error.errno_code() == ETIMEDOUT;
}

// Store and network failures stop processing (nothing is acked); anything
// else is a bad message, which is skipped so that it cannot block the queue.
bool fatal(const Error& error) {
  return error.category() == ErrorCategory::kSystem || error.category() == ErrorCategory::kInternal;
}

ConversationInfo info_of(const mls::GroupContext& context) {
  if (const mls::Extension* ext = context.extensions.find(kInfoExtension)) {
    if (auto info = tls::decode<ConversationInfo>(ext->extension_data)) return *info;
  }
  return {};
}

mls::ExtensionList with_info(mls::ExtensionList list, const ConversationInfo& info) {
  std::erase_if(list.extensions, [](const mls::Extension& e) { return e.extension_type == kInfoExtension; });
  list.extensions.push_back({kInfoExtension, tls::encode(info)});
  return list;
}

Error status_error(const pb::Response& response) {
  switch (response.status()) {
    case pb::NO_SUCH_GROUP: return Error::not_found("the relay does not know this conversation");
    case pb::NOT_MEMBER: return Error::invalid_argument("this device is not a member of the conversation");
    case pb::INVALID: return Error::invalid_argument("the relay refused the request as invalid");
    case pb::NOT_FOUND: return Error::not_found("the relay found nothing (no such user, device or attachment)");
    case pb::TOO_LARGE: return Error::invalid_argument("too large for the relay");
    case pb::ALREADY_EXISTS: return Error::invalid_argument("the conversation exists already");
    case pb::INTERNAL: return Error::system("relay store failure, try again", EAGAIN);
    case pb::RATE_LIMITED: return Error::system("the relay rate-limits this device, try again", EAGAIN);
    case pb::QUOTA_EXCEEDED: return Error::invalid_argument("over this device's quota on the relay");
    case pb::STATUS_UNSPECIFIED: return Error::system("no answer from the relay", ECONNRESET);
    default: return Error::internal("unexpected relay status");
  }
}

}  // namespace

struct Client::Impl {
  std::unique_ptr<Store> store;
  ClientOptions options;
  crypto::CipherSuite suite = crypto::CipherSuite::from_id(1).value();
  crypto::PrivateKey signature_key;
  Bytes cert_der;
  std::string user_id;
  std::string device_id;
  std::shared_ptr<const OrgCa> ca;
  mls::CredentialValidator validator;
  net::TlsClientConfig tls;
  std::string host;
  std::uint16_t port = 0;

  std::unique_ptr<net::WebSocketClient> ws;
  std::uint64_t next_request = 0;
  std::map<std::uint64_t, pb::Response> responses;
  std::deque<pb::Delivery> inbox;
  std::int64_t last_seq = 0;
  bool connected_once = false;

  std::function<void(const Event&)> on_event;
  std::function<std::int64_t()> now = system_now_ms;

  // Work that processing found and that needs the relay afterwards.
  std::map<Bytes, std::uint64_t> proposals_to_commit;  // group -> epoch of the proposal
  std::map<Bytes, std::vector<MessageId>> receipts_to_send;
  std::set<Bytes> leave_again;
  bool replenish = true;

  void emit(Event::Kind kind, BytesView group, BytesView message = {}) {
    if (on_event) on_event(Event{kind, to_bytes(group), to_bytes(message)});
  }

  mls::Credential credential() const {
    return mls::Credential{mls::X509Credential{{mls::Certificate{cert_der}}}};
  }

  // --- the connection ------------------------------------------------------

  // Unacked deliveries come again on the next connection, in order: the
  // ones buffered from this one are dropped with it.
  void drop() {
    ws.reset();
    responses.clear();
    inbox.clear();
  }

  ErrorOr<void> ensure_ws() {
    if (ws) return {};
    auto connected = net::WebSocketClient::connect(tls, host, port, "/v1/relay", options.timeout);
    if (!connected) return connected.error();
    ws = std::move(*connected);
    return {};
  }

  // A timeout keeps the connection: the relay pushes to it as deliveries come.
  ErrorOr<void> read_one(std::chrono::milliseconds timeout) {
    auto message = ws->receive(timeout);
    if (!message) {
      if (!timed_out(message.error())) drop();
      return message.error();
    }
    pb::ServerFrame frame;
    if (!frame.ParseFromArray(message->data(), static_cast<int>(message->size()))) {
      drop();
      return Error::decode("the relay sent a frame that does not parse");
    }
    if (frame.has_response()) responses[frame.response().request_id()] = frame.response();
    if (frame.has_delivery()) inbox.push_back(frame.delivery());
    return {};
  }

  // One request and its response; a RATE_LIMITED answer is waited out
  // (as the relay says) and the request sent again.
  ErrorOr<pb::Response> call(pb::ClientFrame frame) {
    for (int attempt = 0;; ++attempt) {
      pb::Response response = TRY(call_once(frame));
      if (response.status() != pb::RATE_LIMITED || attempt >= 20) return response;
      std::this_thread::sleep_for(std::chrono::milliseconds(std::clamp<std::uint32_t>(response.retry_after_ms(), 10, 5000)));
    }
  }

  ErrorOr<pb::Response> call_once(pb::ClientFrame frame) {
    TRY(ensure_ws());
    frame.set_request_id(++next_request);
    std::uint64_t id = frame.request_id();
    std::string bytes = frame.SerializeAsString();
    auto sent = ws->send(view(bytes), options.timeout);
    if (!sent) {
      drop();
      return sent.error();
    }
    auto deadline = Clock::now() + options.timeout;
    for (;;) {
      if (auto found = responses.find(id); found != responses.end()) {
        pb::Response response = std::move(found->second);
        responses.erase(found);
        return response;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms) {
        drop();
        return Error::system("relay response", ETIMEDOUT);
      }
      // A relay that does not answer in time is not trusted with the next request.
      if (auto got = read_one(left); !got) {
        drop();
        return got.error();
      }
    }
  }

  // A request whose effect is idempotent on the relay (client-chosen ids):
  // sent again once after a broken connection.
  ErrorOr<pb::Response> call_idempotent(const pb::ClientFrame& frame) {
    auto first = call(frame);
    if (first) return first;
    if (first.error().category() != ErrorCategory::kSystem) return first;
    return call(frame);
  }

  void ack(std::int64_t seq) {
    if (!ws || !options.acknowledge) return;
    pb::ClientFrame frame;
    frame.mutable_ack()->set_up_to_seq(seq);
    std::string bytes = frame.SerializeAsString();
    if (!ws->send(view(bytes), options.timeout)) drop();
  }

  // --- group state -----------------------------------------------------------

  ErrorOr<ConversationRow> active_conversation(BytesView group) {
    auto row = TRY(store->conversation(group));
    if (!row) return Error::not_found("no such conversation");
    if (row->status != "active") return Error::invalid_argument("this device is no longer in the conversation");
    return *row;
  }

  ErrorOr<mls::State> load_state(BytesView group, bool previous = false) {
    auto saved = TRY(store->group_state(group, previous));
    if (!saved) return Error::not_found("no group state for this conversation");
    return mls::State::load(saved->view(), validator);
  }

  // Device id -> member, from the tree's credentials.
  ErrorOr<std::map<std::string, Member>> roster(const mls::State& state) {
    std::map<std::string, Member> out;
    for (const auto& [leaf, node] : state.roster()) {
      DeviceName name = TRY(credential_names(node->credential));
      out[name.device_id] = Member{name.user_id, name.device_id, leaf.value};
    }
    return out;
  }

  // --- key packages ------------------------------------------------------------

  ErrorOr<Bytes> new_key_package(bool last_resort) {
    auto bundle = TRY(mls::KeyPackageBundle::create(suite, credential(), signature_key));
    Bytes ref = mls::key_package_ref(suite, bundle.key_package);
    TRY(store->put_key_package(ref, bundle.save().view(), last_resort));
    return tls::encode(mls::MlsMessage{mls::ProtocolVersion::kMls10, bundle.key_package});
  }

  // Keeps options.key_packages unused packages stored and published, and a
  // last-resort one, so that inviting this device never fails.
  ErrorOr<void> replenish_key_packages() {
    if (!replenish) return {};
    bool need_last_resort = !TRY(store->get("last_resort_published")).has_value();
    // The relay's count, not ours: a package an inviter claimed but never
    // used in a Welcome is gone from the relay, yet still in our store (we
    // keep its private half in case the Welcome comes late).
    pb::ClientFrame query;
    query.mutable_publish_key_packages();
    pb::Response counted = TRY(call(query));
    if (counted.status() != pb::OK) return status_error(counted);
    std::size_t have = static_cast<std::size_t>(std::max<std::int64_t>(0, counted.key_packages_stored()));
    if (have >= options.key_packages && !need_last_resort) {
      replenish = false;
      return {};
    }
    pb::ClientFrame frame;
    auto* publish = frame.mutable_publish_key_packages();
    TRY(store->begin());
    auto made = [&]() -> ErrorOr<void> {
      for (std::size_t i = have; i < options.key_packages; ++i) publish->add_key_packages(str(TRY(new_key_package(false))));
      if (need_last_resort) publish->set_last_resort(str(TRY(new_key_package(true))));
      return {};
    }();
    if (!made) {
      store->rollback();
      return made.error();
    }
    TRY(store->commit());
    pb::Response response = TRY(call(frame));
    if (response.status() != pb::OK) return status_error(response);
    if (need_last_resort) TRY(store->set("last_resort_published", as_bytes("1")));
    replenish = false;
    return {};
  }

  // --- deliveries ----------------------------------------------------------

  ErrorOr<void> handle_welcome(const mls::MlsMessage& message) {
    const auto* welcome = std::get_if<mls::Welcome>(&message.message);
    if (welcome == nullptr) return Error::decode("welcome delivery is not a Welcome");
    // The policy first: nothing of a group on another suite is looked at.
    if (static_cast<std::uint16_t>(welcome->cipher_suite) != suite.id()) {
      Error refused = suite_not_allowed(suite.id(), static_cast<std::uint16_t>(welcome->cipher_suite));
      ++stats.refused_welcomes;
      stats.last_refusal = refused.message();
      return refused;
    }
    for (const auto& secrets : welcome->secrets) {
      auto saved = TRY(store->key_package(secrets.new_member));
      if (!saved) continue;
      auto bundle = TRY(mls::KeyPackageBundle::load(saved->view()));
      mls::State state = TRY(mls::State::join(*welcome, bundle, std::nullopt, validator));
      Bytes group = to_bytes(state.group_id());
      auto existing = TRY(store->conversation(group));
      if (existing && existing->status == "active" && TRY(store->group_state(group)).has_value()) return {};
      ConversationInfo info = info_of(state.group_context());
      ConversationRow row{group, info.name, info.disappear_s, "active", now(), now(), false};
      TRY(store->put_conversation(row));
      TRY(store->clear_group_state(group));
      TRY(store->put_group_state(group, state.save().view()));
      TRY(store->delete_key_package(secrets.new_member));
      replenish = true;
      emit(Event::Kind::kJoined, group);
      return {};
    }
    return Error::not_found("a welcome for none of this device's key packages");
  }

  ErrorOr<void> handle_commit(BytesView group, const mls::MlsMessage& message, std::uint64_t epoch) {
    auto conversation = TRY(store->conversation(group));
    if (!conversation || conversation->status != "active") return {};
    mls::State state = TRY(load_state(group));
    // An older epoch: a commit we already processed (redelivery).
    if (epoch < state.epoch()) return {};
    if (epoch > state.epoch()) return Error::decode("a commit from an epoch this device has not reached");
    auto before = TRY(roster(state));
    auto next = state.handle_commit(message);
    if (!next) {
      if (!removed_us(next.error())) return next.error();
      conversation->status = "left";
      conversation->leaving = false;
      TRY(store->put_conversation(*conversation));
      TRY(store->clear_group_state(group));
      emit(Event::Kind::kLeft, group);
      return {};
    }
    ConversationInfo info = info_of(next->group_context());
    bool renamed = info.name != conversation->name || info.disappear_s != conversation->disappear_s;
    conversation->name = info.name;
    conversation->disappear_s = info.disappear_s;
    TRY(store->put_conversation(*conversation));
    // The previous epoch is kept as it is after handling: decrypting the
    // commit may have advanced its ratchets.
    TRY(store->put_group_state(group, state.save().view()));
    TRY(store->advance_group_state(group, next->save().view()));
    proposals_to_commit.erase(to_bytes(group));
    if (conversation->leaving) leave_again.insert(to_bytes(group));
    auto after = TRY(roster(*next));
    if (renamed) emit(Event::Kind::kRenamed, group);
    if (before.size() != after.size() || !std::equal(before.begin(), before.end(), after.begin(), [](auto& a, auto& b) {
          return a.first == b.first;
        }))
      emit(Event::Kind::kMembers, group);
    return {};
  }

  ErrorOr<void> handle_proposal(BytesView group, const mls::MlsMessage& message, std::uint64_t epoch) {
    auto conversation = TRY(store->conversation(group));
    if (!conversation || conversation->status != "active") return {};
    mls::State state = TRY(load_state(group));
    if (epoch != state.epoch()) return {};  // void once its epoch ended (RFC 9420 §12.1)
    TRY(state.handle_proposal(message));
    TRY(store->put_group_state(group, state.save().view()));
    // "Committed by another member on receipt": every member that sees a
    // proposal commits it; the relay lets one commit win the epoch.
    proposals_to_commit[to_bytes(group)] = epoch;
    return {};
  }

  ErrorOr<void> handle_application(BytesView group, const mls::MlsMessage& message, std::uint64_t epoch) {
    auto conversation = TRY(store->conversation(group));
    if (!conversation || conversation->status != "active") return {};
    mls::State current = TRY(load_state(group));
    bool previous = epoch + 1 == current.epoch();
    if (epoch != current.epoch() && !previous) return Error::decode("a message from an epoch this device no longer holds");
    mls::State state = previous ? TRY(load_state(group, true)) : std::move(current);
    mls::Received received = TRY(state.unprotect(message));
    // The ratchet moved: a replay of the same generation now fails.
    if (previous) {
      TRY(store->put_previous_state(group, state.save().view()));
    } else {
      TRY(store->put_group_state(group, state.save().view()));
    }
    if (received.kind != mls::Received::Kind::kApplication) return {};
    const mls::LeafNode* leaf = state.tree().leaf(received.sender);
    if (leaf == nullptr) return Error::decode("message from a blank leaf");
    DeviceName sender = TRY(credential_names(leaf->credential));
    Envelope envelope = TRY(tls::decode<Envelope>(received.application_data));
    return apply_envelope(group, *conversation, sender, envelope);
  }

  ErrorOr<void> apply_envelope(BytesView group, const ConversationRow& conversation, const DeviceName& sender,
                               const Envelope& envelope) {
    std::int64_t now_ms = now();
    BytesView id(envelope.id);
    switch (envelope.kind()) {
      case EnvelopeKind::kText:
      case EnvelopeKind::kAttachment: {
        MessageRow row;
        row.id = to_bytes(id);
        row.group_id = to_bytes(group);
        row.sender_user = sender.user_id;
        row.sender_device = sender.device_id;
        row.sent_ms = static_cast<std::int64_t>(envelope.sent_at_ms);
        row.received_ms = now_ms;
        row.kind = static_cast<std::uint8_t>(envelope.kind());
        std::optional<MessageId> reply_to;
        if (const auto* text = std::get_if<0>(&envelope.body)) {
          row.text = text->text;
          reply_to = text->reply_to;
        } else {
          const auto& attachment = std::get<5>(envelope.body);
          row.text = attachment.caption;
          reply_to = attachment.reply_to;
          row.attachment = tls::encode(envelope);
        }
        if (reply_to) row.reply_to = to_bytes(BytesView(*reply_to));
        std::uint32_t timer = envelope.expires_after_s != 0 ? envelope.expires_after_s : conversation.disappear_s;
        if (timer != 0) row.expires_ms = now_ms + std::int64_t{timer} * 1000;
        if (TRY(store->insert_message(row))) {
          receipts_to_send[to_bytes(group)].push_back(envelope.id);
          emit(Event::Kind::kMessage, group, id);
        }
        return {};
      }
      case EnvelopeKind::kEdit:
      case EnvelopeKind::kDelete: {
        bool edit = envelope.kind() == EnvelopeKind::kEdit;
        BytesView target = edit ? BytesView(std::get<1>(envelope.body).target) : BytesView(std::get<2>(envelope.body).target);
        auto row = TRY(store->message(target));
        // Only the author (any of their devices) edits or deletes, and only
        // within the conversation the message belongs to.
        if (!row || row->group_id != to_bytes(group) || row->sender_user != sender.user_id || row->deleted) return {};
        if (edit) {
          row->text = std::get<1>(envelope.body).text;
          row->edited = true;
        } else {
          row->text.clear();
          row->attachment.clear();
          row->deleted = true;
        }
        TRY(store->update_message(*row));
        emit(edit ? Event::Kind::kEdited : Event::Kind::kDeleted, group, target);
        return {};
      }
      case EnvelopeKind::kDelivered:
      case EnvelopeKind::kRead: {
        bool read = envelope.kind() == EnvelopeKind::kRead;
        const ReceiptBody& body = read ? std::get<4>(envelope.body) : std::get<3>(envelope.body);
        for (const MessageId& target : body.targets) {
          auto row = TRY(store->message(target));
          if (!row || row->group_id != to_bytes(group)) continue;
          TRY(store->add_receipt(target, sender.device_id, read));
          emit(Event::Kind::kReceipt, group, target);
        }
        return {};
      }
    }
    return {};
  }

  ErrorOr<void> apply_delivery(const pb::Delivery& delivery) {
    auto message = TRY(tls::decode<mls::MlsMessage>(view(delivery.message())));
    BytesView group = view(delivery.group_id());
    auto epoch = static_cast<std::uint64_t>(delivery.epoch());
    switch (delivery.kind()) {
      case pb::Delivery::WELCOME: return handle_welcome(message);
      case pb::Delivery::COMMIT: return handle_commit(group, message, epoch);
      case pb::Delivery::PROPOSAL: return handle_proposal(group, message, epoch);
      case pb::Delivery::APPLICATION: return handle_application(group, message, epoch);
      default: return Error::decode("delivery of an unknown kind");
    }
  }

  // One delivery, its effects and the new last_seq in one transaction; the
  // ack follows the commit.
  ErrorOr<void> process(const pb::Delivery& delivery) {
    if (delivery.seq() <= last_seq) {
      ++stats.duplicate_deliveries;
      ack(delivery.seq());
      return {};
    }
    auto saved_proposals = proposals_to_commit;
    auto saved_receipts = receipts_to_send;
    TRY(store->begin());
    auto applied = apply_delivery(delivery);
    if (!applied) {
      store->rollback();
      proposals_to_commit = std::move(saved_proposals);
      receipts_to_send = std::move(saved_receipts);
      if (fatal(applied.error())) {
        // Not acked: a new connection gets it again.
        drop();
        return applied.error();
      }
      // A message this device cannot use (forged, from a lost epoch, not
      // for us): skipped, so it cannot block everything behind it.
      ++stats.skipped_deliveries;
      TRY(store->begin());
    }
    std::string seq = std::to_string(delivery.seq());
    auto recorded = store->set("last_seq", as_bytes(seq));
    if (!recorded) {
      store->rollback();
      return recorded.error();
    }
    TRY(store->commit());
    last_seq = delivery.seq();
    ack(delivery.seq());
    return {};
  }

  ErrorOr<std::size_t> process_inbox() {
    std::size_t n = 0;
    while (!inbox.empty()) {
      pb::Delivery delivery = std::move(inbox.front());
      inbox.pop_front();
      TRY(process(delivery));
      ++n;
    }
    return n;
  }

  // --- commits -------------------------------------------------------------

  using CommitPlan = std::function<ErrorOr<std::optional<mls::State::CommitOptions>>(mls::State&)>;

  // Builds a commit from the current epoch, sends it, and on an epoch
  // conflict catches up and builds it again (the plan decides whether it is
  // still needed). True if a commit of ours was accepted.
  ErrorOr<bool> commit(BytesView group, const CommitPlan& plan) {
    for (std::size_t attempt = 0; attempt < kMaxCommitAttempts; ++attempt) {
      ConversationRow conversation = TRY(active_conversation(group));
      mls::State state = TRY(load_state(group));
      auto planned = TRY(plan(state));
      if (!planned) return false;
      auto before = TRY(roster(state));
      mls::CommitResult result = TRY(state.commit(*planned));
      auto after = TRY(roster(result.next));

      pb::ClientFrame frame;
      auto* send = frame.mutable_send_commit();
      send->set_client_message_id(str(crypto::random_bytes(16)));
      send->set_commit(str(tls::encode(result.commit)));
      std::vector<std::string> added;
      for (const auto& [device, member] : after)
        if (!before.count(device)) added.push_back(device);
      for (const auto& device : added) send->add_add_devices(device);
      for (const auto& [device, member] : before)
        if (!after.count(device)) send->add_remove_devices(device);
      if (result.welcome && !added.empty()) {
        auto* welcome = send->add_welcomes();
        for (const auto& device : added) welcome->add_recipient_devices(device);
        welcome->set_welcome(str(tls::encode(*result.welcome)));
      }
      pb::Response response = TRY(call_idempotent(frame));
      if (response.status() == pb::OK || response.status() == pb::DUPLICATE) {
        ConversationInfo info = info_of(result.next.group_context());
        conversation.name = info.name;
        conversation.disappear_s = info.disappear_s;
        conversation.last_commit_ms = now();
        TRY(store->begin());
        auto saved = [&]() -> ErrorOr<void> {
          TRY(store->put_conversation(conversation));
          TRY(store->put_group_state(group, state.save().view()));
          TRY(store->advance_group_state(group, result.next.save().view()));
          return {};
        }();
        if (!saved) {
          store->rollback();
          return saved.error();
        }
        TRY(store->commit());
        proposals_to_commit.erase(to_bytes(group));
        ++stats.commits;
        if (before.size() != after.size()) emit(Event::Kind::kMembers, group);
        return true;
      }
      if (response.status() != pb::EPOCH_CONFLICT) return status_error(response);
      // Another member's commit won this epoch: process it, then plan again.
      ++stats.commit_conflicts;
      TRY(catch_up(group, static_cast<std::uint64_t>(response.epoch())));
    }
    return Error::system("commit kept losing to other members' commits", EAGAIN);
  }

  ErrorOr<void> catch_up(BytesView group, std::uint64_t epoch) {
    auto deadline = Clock::now() + options.timeout;
    for (;;) {
      TRY(process_inbox());
      auto conversation = TRY(store->conversation(group));
      if (!conversation || conversation->status != "active") return {};
      if (TRY(load_state(group)).epoch() >= epoch) return {};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms) return Error::system("waiting for the winning commit", ETIMEDOUT);
      TRY(ensure_ws());
      TRY(read_one(left));
    }
  }

  // --- outgoing messages -----------------------------------------------------

  ErrorOr<void> flush_outbox() {
    for (OutboxRow row : TRY(store->outbox())) {
      auto conversation = TRY(store->conversation(row.group_id));
      if (!conversation || conversation->status != "active") {
        TRY(store->delete_outbox(row.client_message_id));
        continue;
      }
      mls::State state = TRY(load_state(row.group_id));
      if (row.mls.empty() || row.epoch != state.epoch()) {
        // (Re-)encrypt in this epoch. The same client_message_id keeps the
        // relay from queueing it twice if the first copy did get through.
        mls::MlsMessage message = TRY(state.protect(row.envelope));
        row.mls = tls::encode(message);
        row.epoch = state.epoch();
        TRY(store->begin());
        auto saved = [&]() -> ErrorOr<void> {
          TRY(store->put_group_state(row.group_id, state.save().view()));
          TRY(store->put_outbox(row));
          return {};
        }();
        if (!saved) {
          store->rollback();
          return saved.error();
        }
        TRY(store->commit());
      }
      pb::ClientFrame frame;
      frame.mutable_send_message()->set_client_message_id(str(row.client_message_id));
      frame.mutable_send_message()->set_message(str(row.mls));
      pb::Response response = TRY(call_idempotent(frame));
      if (response.status() == pb::OK || response.status() == pb::DUPLICATE) {
        TRY(store->delete_outbox(row.client_message_id));
        continue;
      }
      if (response.status() == pb::INTERNAL) return status_error(response);
      // Refused for good (not a member any more, malformed): dropped.
      TRY(store->delete_outbox(row.client_message_id));
      return status_error(response);
    }
    return {};
  }

  ErrorOr<MessageId> send_envelope(BytesView group, Envelope envelope, std::optional<MessageRow> row) {
    ConversationRow conversation = TRY(active_conversation(group));
    envelope.sent_at_ms = static_cast<std::uint64_t>(now());
    if (row) {
      envelope.expires_after_s = conversation.disappear_s;
      row->id = to_bytes(BytesView(envelope.id));
      row->group_id = to_bytes(group);
      row->sender_user = user_id;
      row->sender_device = device_id;
      row->sent_ms = static_cast<std::int64_t>(envelope.sent_at_ms);
      row->received_ms = now();
      row->outgoing = true;
      row->read = true;
      if (conversation.disappear_s != 0) row->expires_ms = row->received_ms + std::int64_t{conversation.disappear_s} * 1000;
      if (envelope.kind() == EnvelopeKind::kAttachment) row->attachment = tls::encode(envelope);
    }
    TRY(store->begin());
    auto queued = [&]() -> ErrorOr<void> {
      if (row) TRY(store->insert_message(*row));
      TRY(store->put_outbox({to_bytes(BytesView(envelope.id)), to_bytes(group), tls::encode(envelope), {}, 0}));
      return {};
    }();
    if (!queued) {
      store->rollback();
      return queued.error();
    }
    TRY(store->commit());
    TRY(flush_outbox());
    return envelope.id;
  }

  ErrorOr<void> leave(BytesView group) {
    ConversationRow conversation = TRY(active_conversation(group));
    mls::State state = TRY(load_state(group));
    if (state.roster().size() <= 1) {
      conversation.status = "left";
      TRY(store->put_conversation(conversation));
      TRY(store->clear_group_state(group));
      return {};
    }
    mls::MlsMessage proposal = TRY(state.propose_remove(state.own_leaf()));
    conversation.leaving = true;
    TRY(store->begin());
    auto saved = [&]() -> ErrorOr<void> {
      TRY(store->put_conversation(conversation));
      TRY(store->put_group_state(group, state.save().view()));
      return {};
    }();
    if (!saved) {
      store->rollback();
      return saved.error();
    }
    TRY(store->commit());
    pb::ClientFrame frame;
    frame.mutable_send_message()->set_client_message_id(str(crypto::random_bytes(16)));
    frame.mutable_send_message()->set_message(str(tls::encode(proposal)));
    pb::Response response = TRY(call_idempotent(frame));
    if (response.status() != pb::OK && response.status() != pb::DUPLICATE) return status_error(response);
    return {};
  }

  // Work found while processing deliveries; true if anything was done.
  ErrorOr<bool> follow_up() {
    bool did = false;
    auto proposals = std::move(proposals_to_commit);
    proposals_to_commit.clear();
    for (const auto& [group, epoch] : proposals) {
      std::uint64_t proposal_epoch = epoch;
      auto committed = commit(group, [proposal_epoch](mls::State& state) -> ErrorOr<std::optional<mls::State::CommitOptions>> {
        // Someone else's commit ended the proposal's epoch first.
        if (state.epoch() != proposal_epoch) return std::optional<mls::State::CommitOptions>();
        return std::optional<mls::State::CommitOptions>(mls::State::CommitOptions{});
      });
      if (!committed && fatal(committed.error())) return committed.error();
      did = true;
    }
    auto leaves = std::move(leave_again);
    leave_again.clear();
    for (const auto& group : leaves) {
      auto left = leave(group);
      if (!left && fatal(left.error())) return left.error();
      did = true;
    }
    auto receipts = std::move(receipts_to_send);
    receipts_to_send.clear();
    for (auto& [group, ids] : receipts) {
      for (std::size_t i = 0; i < ids.size(); i += kMaxReceiptIds) {
        Envelope envelope;
        envelope.id = new_message_id();
        envelope.body.emplace<3>(ReceiptBody{std::vector<MessageId>(
            ids.begin() + static_cast<std::ptrdiff_t>(i),
            ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + kMaxReceiptIds)))});
        auto sent = send_envelope(group, std::move(envelope), std::nullopt);
        if (!sent && fatal(sent.error())) return sent.error();
      }
      did = true;
    }
    if (replenish) TRY(replenish_key_packages());
    return did;
  }

  ErrorOr<void> self_updates_due() {
    std::int64_t interval = std::chrono::duration_cast<std::chrono::milliseconds>(options.self_update_interval).count();
    for (const auto& conversation : TRY(store->conversations())) {
      if (conversation.status != "active" || now() - conversation.last_commit_ms < interval) continue;
      auto updated = commit(conversation.group_id, [](mls::State&) -> ErrorOr<std::optional<mls::State::CommitOptions>> {
        mls::State::CommitOptions update;
        update.force_path = true;
        return std::optional<mls::State::CommitOptions>(update);
      });
      if (!updated && fatal(updated.error())) return updated.error();
    }
    return {};
  }

  ClientStats stats;
};

// ---- enrollment -------------------------------------------------------------

namespace {

// The server's error text, if its answer is the documented JSON error.
std::string answer_code(const net::Response& response) {
  auto answer = nlohmann::json::parse(response.body, nullptr, false);
  if (!answer.is_object() || !answer.contains("code") || !answer["code"].is_string()) return {};
  return answer["code"].get<std::string>();
}

}  // namespace

ErrorOr<DeviceName> Client::enroll(const EnrollRequest& request) {
  if (request.suite && *request.suite != 0x0001 && *request.suite != 0xF0A1)
    return Error::unsupported("a device's MLS suite policy is international (0x0001) or national (0xF0A1)");
  // The TLS key is Ed25519 whatever the MLS policy: the relay's TLS (OpenSSL
  // 3.0) cannot use SM2 (identity.h).
  crypto::CipherSuite tls_suite = TRY(crypto::CipherSuite::from_id(0x0001));
  crypto::PrivateKey key = TRY(tls_suite.signature().generate());
  DeviceKeyPem pem = TRY(device_key_pem(tls_suite, key));
  auto ca = TRY(OrgCa::from_pem(request.ca_pem));

  // The store first: a bad passcode or profile fails before the one-time
  // token is spent.
  auto store = TRY(Store::open(request.home, request.passcode, true, request.argon2));
  if (TRY(store->get("device_id"))) return Error::invalid_argument("this profile is enrolled already");

  net::TlsClientConfig tls;
  tls.ca = net::PemSource::memory(request.ca_pem);
  auto https = TRY(net::HttpsClient::connect(tls, request.host, request.port, 15s));
  nlohmann::json body = {{"token", request.token}, {"csr", pem.csr_pem}};
  // The national policy's MLS credential key (SM2).
  std::optional<crypto::PrivateKey> credential_key;
  auto add_credential_csr = [&]() -> ErrorOr<void> {
    credential_key = TRY(crypto::sm2_sm3().generate());
    body["credential_csr"] = TRY(credential_csr_pem(*credential_key));
    return {};
  };
  if (request.suite == 0xF0A1) TRY(add_credential_csr());
  net::Response response = TRY(https->request(net::Method::kPost, "/v1/enroll", body.dump()));
  if (response.status == 400 && !credential_key && answer_code(response) == "credential_csr_required") {
    // The server's policy is national; it refused before looking at the
    // token, so asking again spends it only once.
    if (request.suite)
      return Error::invalid_argument(
          "the server's MLS suite policy is national (0xF0A1) and this device insists on international (0x0001): "
          "not enrolled, the token is not spent");
    TRY(add_credential_csr());
    response = TRY(https->request(net::Method::kPost, "/v1/enroll", body.dump()));
  }
  if (response.status != 200) {
    if (response.status == 403) return Error::invalid_argument("enrollment refused: the token is unknown, used or expired");
    if (response.status == 400 && credential_key)
      return Error::invalid_argument(
          "enrollment refused: this device asked for the national MLS suite (0xF0A1) and the server's policy is "
          "international, or the server refused the credential CSR");
    return Error::invalid_argument("enrollment refused by the server");
  }
  auto answer = nlohmann::json::parse(response.body, nullptr, false);
  if (!answer.is_object() || !answer["certificate"].is_string() || !answer["device_id"].is_string() ||
      !answer["user_id"].is_string())
    return Error::decode("enrollment answer is not what the server documents");
  bool national = answer.contains("mls_suite");
  if (national && (answer["mls_suite"] != "national" || !answer["credential"].is_string() ||
                   !answer["credential_ca"].is_string() || !credential_key))
    return Error::decode("enrollment answer is not what the server documents");
  if (!national && credential_key) return Error::decode("the server issued no national-suite MLS credential");
  std::string cert_pem = answer["certificate"].get<std::string>();
  Bytes cert_der = TRY(certificate_der(cert_pem));
  // The certificate must be for our key, from our pinned CA, naming what the
  // answer says.
  DeviceName name = TRY(ca->verify(cert_der, key.public_key().bytes()));
  if (name.device_id != answer["device_id"].get<std::string>() || name.user_id != answer["user_id"].get<std::string>())
    return Error::decode("enrollment answer names another device than its certificate");
  std::string credential_pem, credential_ca_pem;
  if (national) {
    // The credential CA came over TLS authenticated by the pinned org CA:
    // trusted as the server that the org CA certifies.
    credential_pem = answer["credential"].get<std::string>();
    credential_ca_pem = answer["credential_ca"].get<std::string>();
    auto credential_ca = TRY(OrgCa::from_pem(credential_ca_pem));
    DeviceName credential_name =
        TRY(credential_ca->verify(TRY(certificate_der(credential_pem)), credential_key->public_key().bytes()));
    if (credential_name.device_id != name.device_id || credential_name.user_id != name.user_id)
      return Error::decode("the MLS credential names another device than the TLS certificate");
  }

  TRY(store->begin());
  auto saved = [&]() -> ErrorOr<void> {
    TRY(store->set("suite", as_bytes(std::to_string(national ? 0xF0A1 : 0x0001))));
    TRY(store->set("device_key", key.private_bytes()));
    TRY(store->set("device_key_pem", pem.key_pem.view()));
    TRY(store->set("certificate_pem", as_bytes(cert_pem)));
    TRY(store->set("ca_pem", as_bytes(request.ca_pem)));
    if (national) {
      TRY(store->set("credential_key", credential_key->private_bytes()));
      TRY(store->set("credential_pem", as_bytes(credential_pem)));
      TRY(store->set("credential_ca_pem", as_bytes(credential_ca_pem)));
    }
    TRY(store->set("host", as_bytes(request.host)));
    TRY(store->set("port", as_bytes(std::to_string(request.port))));
    TRY(store->set("user_id", as_bytes(name.user_id)));
    TRY(store->set("device_id", as_bytes(name.device_id)));
    return {};
  }();
  if (!saved) {
    store->rollback();
    return saved.error();
  }
  TRY(store->commit());
  return name;
}

// ---- the client ---------------------------------------------------------------

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() {
  if (impl_->ws) (void)impl_->ws->close(1s);
}

ErrorOr<std::unique_ptr<Client>> Client::open(const std::string& home, std::string_view passcode,
                                              ClientOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->store = TRY(Store::open(home, passcode, false));
  impl->options = options;
  Store& store = *impl->store;
  auto text = [&](std::string_view key) -> ErrorOr<std::string> {
    auto value = TRY(store.get(key));
    if (!value) return Error::not_found("the profile is not enrolled (pmos chat enroll)");
    return std::string(as_string(*value));
  };
  impl->user_id = TRY(text("user_id"));
  impl->device_id = TRY(text("device_id"));
  impl->host = TRY(text("host"));
  impl->port = static_cast<std::uint16_t>(std::stoi(TRY(text("port"))));
  impl->suite = TRY(crypto::CipherSuite::from_id(static_cast<std::uint16_t>(std::stoi(TRY(text("suite"))))));
  auto key = TRY(store.get_secret("device_key"));
  auto key_pem = TRY(store.get_secret("device_key_pem"));
  if (!key || !key_pem) return Error::not_found("the profile has no device key");
  std::string cert_pem = TRY(text("certificate_pem"));
  std::string ca_pem = TRY(text("ca_pem"));
  if (auto credential_key = TRY(store.get_secret("credential_key"))) {
    // The national policy: MLS signs with the SM2 key its credential CA
    // certified; TLS keeps the device key.
    impl->signature_key = TRY(impl->suite.signature().private_key(credential_key->view()));
    impl->cert_der = TRY(certificate_der(TRY(text("credential_pem"))));
    impl->ca = TRY(OrgCa::from_pem(TRY(text("credential_ca_pem"))));
  } else {
    impl->signature_key = TRY(impl->suite.signature().private_key(key->view()));
    impl->cert_der = TRY(certificate_der(cert_pem));
    impl->ca = TRY(OrgCa::from_pem(ca_pem));
  }
  impl->validator = OrgCa::validator(impl->ca);
  impl->tls.ca = net::PemSource::memory(ca_pem);
  impl->tls.certificate_chain = net::PemSource::memory(cert_pem);
  impl->tls.private_key = net::PemSource::memory(std::string(as_string(key_pem->view())));
  if (auto seq = TRY(store.get("last_seq"))) impl->last_seq = std::stoll(std::string(as_string(*seq)));
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

const std::string& Client::user_id() const { return impl_->user_id; }
const std::string& Client::device_id() const { return impl_->device_id; }
std::uint16_t Client::suite() const { return impl_->suite.id(); }
Store& Client::store() { return *impl_->store; }
const ClientStats& Client::stats() const { return impl_->stats; }
void Client::set_event_handler(std::function<void(const Event&)> handler) { impl_->on_event = std::move(handler); }
void Client::set_clock(std::function<std::int64_t()> now_ms) { impl_->now = std::move(now_ms); }

ErrorOr<void> Client::connect() {
  TRY(impl_->ensure_ws());
  TRY(impl_->replenish_key_packages());
  TRY(impl_->flush_outbox());
  return {};
}

void Client::disconnect() {
  if (impl_->ws) (void)impl_->ws->close(1s);
  impl_->drop();
}

ErrorOr<std::size_t> Client::sync(std::chrono::milliseconds idle) {
  TRY(connect());
  std::size_t n = 0;
  for (;;) {
    n += TRY(impl_->process_inbox());
    if (TRY(impl_->follow_up())) continue;
    if (!impl_->inbox.empty()) continue;
    TRY(impl_->ensure_ws());
    auto got = impl_->read_one(idle);
    if (!got) {
      // A quiet relay ends the wait; the connection stays open for pushes.
      if (timed_out(got.error())) break;
      return got.error();
    }
  }
  TRY(impl_->self_updates_due());
  TRY(expire_messages());
  return n;
}

ErrorOr<Bytes> Client::create_conversation(std::string_view name, const std::vector<std::string>& users,
                                           std::optional<std::uint16_t> suite) {
  if (name.size() > kMaxNameBytes) return Error::invalid_argument("conversation name is too long");
  Impl& c = *impl_;
  if (suite && *suite != c.suite.id()) return suite_not_allowed(c.suite.id(), *suite);
  TRY(connect());
  Bytes group = crypto::random_bytes(16);
  auto creator = TRY(mls::KeyPackageBundle::create(c.suite, c.credential(), c.signature_key));
  mls::ExtensionList extensions = with_info({}, ConversationInfo{std::string(name), 0});
  mls::State state = TRY(mls::State::create(c.suite, group, std::move(creator), extensions, c.validator));
  pb::ClientFrame frame;
  frame.mutable_create_group()->set_group_id(str(group));
  pb::Response response = TRY(c.call(frame));
  if (response.status() != pb::OK) return status_error(response);
  ConversationRow row{group, std::string(name), 0, "active", c.now(), c.now(), false};
  TRY(c.store->begin());
  auto saved = [&]() -> ErrorOr<void> {
    TRY(c.store->put_conversation(row));
    TRY(c.store->put_group_state(group, state.save().view()));
    return {};
  }();
  if (!saved) {
    c.store->rollback();
    return saved.error();
  }
  TRY(c.store->commit());
  std::vector<std::string> everyone = users;
  // Our own other devices belong in every conversation of ours.
  everyone.push_back(c.user_id);
  TRY(invite(group, everyone));
  return group;
}

ErrorOr<void> Client::invite(BytesView group, const std::vector<std::string>& users) {
  Impl& c = *impl_;
  TRY(c.active_conversation(group));
  std::vector<mls::KeyPackage> packages;
  for (const std::string& user : users) {
    pb::ClientFrame frame;
    frame.mutable_claim_key_packages()->set_user_id(user);
    pb::Response response = TRY(c.call(frame));
    if (response.status() == pb::NOT_FOUND) {
      if (user == c.user_id) continue;  // no other device of ours
      return Error::not_found("that user has no enrolled device with key packages");
    }
    if (response.status() != pb::OK) return status_error(response);
    std::size_t other_suite = 0;
    for (const auto& claimed : response.key_packages()) {
      auto message = TRY(tls::decode<mls::MlsMessage>(view(claimed.key_package())));
      const auto* kp = std::get_if<mls::KeyPackage>(&message.message);
      if (kp == nullptr) return Error::decode("claimed key package is not a KeyPackage");
      // A device enrolled under another MLS suite policy (the org changed
      // it since) cannot be in this group: left out, and if it is all the
      // user has, the invitation fails below.
      if (static_cast<std::uint16_t>(kp->cipher_suite) != c.suite.id()) {
        ++other_suite;
        continue;
      }
      TRY(mls::validate_key_package(c.suite, *kp));
      TRY(c.validator(kp->leaf_node.credential, kp->leaf_node.signature_key));
      // The relay says whose package this is; the certificate must agree, or
      // a relay could slip another device into the group.
      DeviceName name = TRY(credential_names(kp->leaf_node.credential));
      if (name.user_id != user || name.device_id != claimed.device_id())
        return Error::crypto("claimed key package belongs to another device than the relay says");
      packages.push_back(*kp);
    }
    if (other_suite > 0 && other_suite == static_cast<std::size_t>(response.key_packages_size()) && user != c.user_id)
      return Error::invalid_argument(
          "every device of that user is on another MLS suite than this conversation (enrolled under another policy)");
  }
  if (packages.empty()) return {};
  auto committed = TRY(c.commit(group, [&](mls::State& state) -> ErrorOr<std::optional<mls::State::CommitOptions>> {
    std::set<Bytes> keys;
    for (const auto& [leaf, node] : state.roster()) keys.insert(node->signature_key);
    mls::State::CommitOptions options;
    for (const auto& kp : packages)
      if (!keys.count(kp.leaf_node.signature_key)) options.proposals.push_back(mls::Proposal{mls::Add{kp}});
    if (options.proposals.empty()) return std::optional<mls::State::CommitOptions>();
    return std::optional<mls::State::CommitOptions>(std::move(options));
  }));
  (void)committed;
  return {};
}

ErrorOr<void> Client::remove_user(BytesView group, std::string_view user) {
  Impl& c = *impl_;
  bool found = false;
  auto committed = TRY(c.commit(group, [&](mls::State& state) -> ErrorOr<std::optional<mls::State::CommitOptions>> {
    mls::State::CommitOptions options;
    for (const auto& [device, member] : TRY(c.roster(state))) {
      if (member.user_id != user || mls::LeafIndex(member.leaf) == state.own_leaf()) continue;
      options.proposals.push_back(mls::Proposal{mls::Remove{mls::LeafIndex(member.leaf)}});
      found = true;
    }
    if (options.proposals.empty()) return std::optional<mls::State::CommitOptions>();
    return std::optional<mls::State::CommitOptions>(std::move(options));
  }));
  if (!committed && !found) return Error::not_found("that user is not a member (use leave for yourself)");
  return {};
}

ErrorOr<void> Client::leave(BytesView group) { return impl_->leave(group); }

namespace {
Client::Impl::CommitPlan change_info(std::function<void(ConversationInfo&)> change) {
  return [change](mls::State& state) -> ErrorOr<std::optional<mls::State::CommitOptions>> {
    ConversationInfo info = info_of(state.group_context());
    change(info);
    mls::State::CommitOptions options;
    options.proposals.push_back(
        mls::Proposal{mls::GroupContextExtensions{with_info(state.group_context().extensions, info)}});
    return std::optional<mls::State::CommitOptions>(std::move(options));
  };
}
}  // namespace

ErrorOr<void> Client::rename(BytesView group, std::string_view name) {
  if (name.size() > kMaxNameBytes) return Error::invalid_argument("conversation name is too long");
  std::string copy(name);
  TRY(impl_->commit(group, change_info([copy](ConversationInfo& info) { info.name = copy; })));
  return {};
}

ErrorOr<void> Client::set_disappearing(BytesView group, std::uint32_t seconds) {
  TRY(impl_->commit(group, change_info([seconds](ConversationInfo& info) { info.disappear_s = seconds; })));
  return {};
}

ErrorOr<void> Client::self_update(BytesView group) {
  TRY(impl_->commit(group, [](mls::State&) -> ErrorOr<std::optional<mls::State::CommitOptions>> {
    mls::State::CommitOptions options;
    options.force_path = true;
    return std::optional<mls::State::CommitOptions>(options);
  }));
  return {};
}

ErrorOr<MessageId> Client::send_text(BytesView group, std::string_view text, std::optional<MessageId> reply_to) {
  if (text.size() > kMaxTextBytes) return Error::invalid_argument("message text is too long");
  Envelope envelope;
  envelope.id = new_message_id();
  envelope.body.emplace<0>(TextBody{std::string(text), reply_to});
  MessageRow row;
  row.kind = static_cast<std::uint8_t>(EnvelopeKind::kText);
  row.text = text;
  if (reply_to) row.reply_to = to_bytes(BytesView(*reply_to));
  return impl_->send_envelope(group, std::move(envelope), std::move(row));
}

ErrorOr<MessageId> Client::edit(BytesView group, const MessageId& target, std::string_view text) {
  auto row = TRY(impl_->store->message(target));
  if (!row || !row->outgoing || row->group_id != to_bytes(group)) return Error::not_found("no message of ours with that id here");
  Envelope envelope;
  envelope.id = new_message_id();
  envelope.body.emplace<1>(EditBody{target, std::string(text)});
  MessageId id = TRY(impl_->send_envelope(group, std::move(envelope), std::nullopt));
  row->text = text;
  row->edited = true;
  TRY(impl_->store->update_message(*row));
  return id;
}

ErrorOr<MessageId> Client::delete_message(BytesView group, const MessageId& target) {
  auto row = TRY(impl_->store->message(target));
  if (!row || !row->outgoing || row->group_id != to_bytes(group)) return Error::not_found("no message of ours with that id here");
  Envelope envelope;
  envelope.id = new_message_id();
  envelope.body.emplace<2>(DeleteBody{target});
  MessageId id = TRY(impl_->send_envelope(group, std::move(envelope), std::nullopt));
  row->text.clear();
  row->attachment.clear();
  row->deleted = true;
  TRY(impl_->store->update_message(*row));
  return id;
}

ErrorOr<std::size_t> Client::mark_read(BytesView group) {
  std::vector<MessageId> ids;
  for (MessageRow& row : TRY(impl_->store->messages(group, 100000))) {
    if (row.outgoing || row.read || row.id.size() != 16) continue;
    row.read = true;
    TRY(impl_->store->update_message(row));
    MessageId id;
    std::copy(row.id.begin(), row.id.end(), id.begin());
    ids.push_back(id);
  }
  for (std::size_t i = 0; i < ids.size(); i += kMaxReceiptIds) {
    Envelope envelope;
    envelope.id = new_message_id();
    envelope.body.emplace<4>(ReceiptBody{std::vector<MessageId>(
        ids.begin() + static_cast<std::ptrdiff_t>(i),
        ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), i + kMaxReceiptIds)))});
    TRY(impl_->send_envelope(group, std::move(envelope), std::nullopt));
  }
  return ids.size();
}

ErrorOr<MessageId> Client::send_attachment(BytesView group, BytesView data, std::string_view file_name,
                                           std::string_view media_type, std::string_view caption) {
  Impl& c = *impl_;
  TRY(c.active_conversation(group));
  AttachmentBody body;
  crypto::random_fill(body.key);
  // A fresh key per blob, so the all-zero nonce is never reused with it.
  const std::array<std::uint8_t, 12> nonce{};
  Bytes sealed = TRY(crypto::aes256_gcm().seal(body.key, nonce, {}, data));
  Bytes digest = crypto::sha256().digest(sealed);
  std::copy(digest.begin(), digest.end(), body.sha256.begin());
  body.size = data.size();
  body.file_name = std::string(file_name);
  body.media_type = std::string(media_type);
  body.caption = std::string(caption);
  pb::ClientFrame frame;
  frame.mutable_upload_attachment()->set_data(str(sealed));
  pb::Response response = TRY(c.call(frame));
  if (response.status() != pb::OK) return status_error(response);
  body.attachment_id = to_bytes(view(response.attachment_id()));
  Envelope envelope;
  envelope.id = new_message_id();
  envelope.body.emplace<5>(std::move(body));
  MessageRow row;
  row.kind = static_cast<std::uint8_t>(EnvelopeKind::kAttachment);
  row.text = std::string(caption);
  auto id = c.send_envelope(group, std::move(envelope), std::move(row));
  secure_zero(MutableBytesView(body.key));
  return id;
}

ErrorOr<Bytes> Client::fetch_attachment(BytesView message_id) {
  Impl& c = *impl_;
  auto row = TRY(c.store->message(message_id));
  if (!row || row->attachment.empty()) return Error::not_found("no attachment message with that id");
  Envelope envelope = TRY(tls::decode<Envelope>(row->attachment));
  const auto* body = std::get_if<5>(&envelope.body);
  if (body == nullptr) return Error::decode("stored attachment is not an attachment envelope");
  pb::ClientFrame frame;
  frame.mutable_download_attachment()->set_attachment_id(str(body->attachment_id));
  pb::Response response = TRY(c.call(frame));
  if (response.status() != pb::OK) return status_error(response);
  BytesView sealed = view(response.attachment());
  // The digest binds the blob to the message (which MLS authenticated):
  // the relay cannot swap in another blob. Public values.
  Bytes digest = crypto::sha256().digest(sealed);
  if (!std::equal(digest.begin(), digest.end(), body->sha256.begin(), body->sha256.end()))
    return Error::crypto("attachment does not match its digest");
  const std::array<std::uint8_t, 12> nonce{};
  Bytes plain = TRY(crypto::aes256_gcm().open(body->key, nonce, {}, sealed));
  if (plain.size() != body->size) return Error::crypto("attachment has the wrong size");
  return plain;
}

ErrorOr<std::vector<ConversationRow>> Client::conversations() { return impl_->store->conversations(); }

ErrorOr<std::vector<MessageRow>> Client::messages(BytesView group, std::size_t limit) {
  return impl_->store->messages(group, limit);
}

ErrorOr<std::vector<Member>> Client::members(BytesView group) {
  mls::State state = TRY(impl_->load_state(group));
  std::vector<Member> out;
  for (auto& [device, member] : TRY(impl_->roster(state))) out.push_back(member);
  std::sort(out.begin(), out.end(), [](const Member& a, const Member& b) {
    return std::tie(a.user_id, a.device_id) < std::tie(b.user_id, b.device_id);
  });
  return out;
}

ErrorOr<Bytes> Client::find_conversation(std::string_view name_or_id) {
  std::optional<Bytes> found;
  std::size_t matches = 0;
  for (const auto& row : TRY(impl_->store->conversations())) {
    std::string hex = to_hex(row.group_id);
    bool by_id = name_or_id.size() >= 4 && hex.compare(0, name_or_id.size(), name_or_id) == 0;
    if (by_id || row.name == name_or_id) {
      if (!found || *found != row.group_id) ++matches;
      found = row.group_id;
    }
  }
  if (!found) return Error::not_found("no conversation with that name or id");
  if (matches > 1) return Error::invalid_argument("several conversations match: use the id");
  return *found;
}

ErrorOr<std::size_t> Client::expire_messages() { return impl_->store->delete_expired(impl_->now()); }

std::size_t Client::pending_outgoing() {
  auto rows = impl_->store->outbox();
  return rows ? rows->size() : 0;
}

}  // namespace pmos::chat

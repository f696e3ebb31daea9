// `pmos chat`: the chat client core (libs/chat) on the command line.
#include "chat_command.h"

#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "file_io.h"
#include "pmos/chat/client.h"

namespace pmos::cli {

namespace {

using namespace std::chrono_literals;
using chat::Client;

constexpr const char* kUsage = R"(usage: pmos chat [--home DIR] [--json] COMMAND ...
  enroll --server HOST:PORT --ca CA.pem --token TOKEN [--suite national|international]
                                          enroll this device (once); the MLS suite
                                          policy is the server's (--suite: insist)
  whoami                                  this device's user, device id, MLS suite policy
  conversations                           list conversations
  create NAME [USER ...] [--suite S]      a new conversation with these users, on the
                                          policy's MLS suite (another --suite: refused)
  invite CONV USER ...                    add users (all their devices)
  remove CONV USER                        remove a user (all their devices)
  leave CONV                              leave a conversation
  rename CONV NAME                        rename a conversation
  timer CONV SECONDS                      disappearing messages (0: off)
  send CONV TEXT... [--reply-to ID]       send a message
  edit CONV ID TEXT...                    edit a message of yours
  delete CONV ID                          delete a message of yours for everyone
  read CONV [--limit N]                   fetch, show, and send read receipts
  members CONV                            who is in a conversation
  attach CONV FILE [--caption TEXT]       send a file (encrypted on this device)
  fetch-attachment ID OUT                 download and decrypt an attachment
  sync                                    fetch what the relay holds for us
  listen                                  print incoming messages until interrupted
  open CONV                               interactive: type lines to send
CONV is a conversation name or (a prefix of) its hex id. The passcode comes from
PMOS_PASSCODE or a prompt; the profile from --home, PMOS_CHAT_HOME or ~/.pmos/chat.
)";

struct Options {
  std::string home;
  bool json = false;
  std::vector<std::string> args;
  std::map<std::string, std::string> flags;
};

int usage() {
  std::fputs(kUsage, stderr);
  return 2;
}

int fail(const std::string& what, const Error& error) {
  std::fprintf(stderr, "pmos chat: %s: %s\n", what.c_str(), error.to_string().c_str());
  return 1;
}

std::string passcode() {
  if (const char* given = std::getenv("PMOS_PASSCODE")) return given;
  std::FILE* tty = std::fopen("/dev/tty", "r+");
  if (tty == nullptr) return {};
  std::fputs("passcode: ", tty);
  std::fflush(tty);
  termios old{};
  bool restore = ::tcgetattr(::fileno(tty), &old) == 0;
  if (restore) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(::fileno(tty), TCSANOW, &quiet);
  }
  char line[256] = {};
  std::string out;
  if (std::fgets(line, sizeof line, tty) != nullptr) out = line;
  if (restore) ::tcsetattr(::fileno(tty), TCSANOW, &old);
  std::fputs("\n", tty);
  std::fclose(tty);
  secure_zero(MutableBytesView(reinterpret_cast<std::uint8_t*>(line), sizeof line));
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string time_of(std::int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S", &tm);
  return buffer;
}

nlohmann::json message_json(const chat::MessageRow& m) {
  nlohmann::json j = {{"id", to_hex(m.id)},
                      {"conversation", to_hex(m.group_id)},
                      {"from_user", m.sender_user},
                      {"from_device", m.sender_device},
                      {"sent_ms", m.sent_ms},
                      {"received_ms", m.received_ms},
                      {"text", m.text},
                      {"edited", m.edited},
                      {"deleted", m.deleted},
                      {"outgoing", m.outgoing},
                      {"delivered_to", m.delivered_to},
                      {"read_by", m.read_by}};
  if (!m.reply_to.empty()) j["reply_to"] = to_hex(m.reply_to);
  if (m.expires_ms != 0) j["expires_ms"] = m.expires_ms;
  if (!m.attachment.empty()) {
    if (auto envelope = tls::decode<chat::Envelope>(m.attachment)) {
      const auto& body = std::get<5>(envelope->body);
      j["attachment"] = {{"file_name", body.file_name}, {"media_type", body.media_type}, {"size", body.size}};
    }
  }
  return j;
}

void print_message(const chat::MessageRow& m, bool json) {
  if (json) {
    std::cout << message_json(m).dump() << std::endl;
    return;
  }
  std::string text = m.deleted ? "(deleted)" : m.text;
  if (!m.attachment.empty()) {
    if (auto envelope = tls::decode<chat::Envelope>(m.attachment)) {
      const auto& body = std::get<5>(envelope->body);
      text = "[file " + body.file_name + ", " + std::to_string(body.size) + " bytes] " + text;
    }
  }
  std::string status;
  if (m.outgoing) status = !m.read_by.empty() ? " (read)" : !m.delivered_to.empty() ? " (delivered)" : " (sent)";
  std::cout << time_of(m.received_ms) << "  " << m.sender_user << ": " << text << (m.edited ? " (edited)" : "")
            << status << "  #" << to_hex(m.id) << std::endl;
}

ErrorOr<chat::MessageId> message_id(const std::string& hex) {
  Bytes bytes = TRY(from_hex(hex));
  if (bytes.size() != 16) return Error::invalid_argument("a message id is 32 hex digits");
  chat::MessageId id;
  std::copy(bytes.begin(), bytes.end(), id.begin());
  return id;
}

std::string joined(const std::vector<std::string>& args, std::size_t from) {
  std::string out;
  for (std::size_t i = from; i < args.size(); ++i) out += (i == from ? "" : " ") + args[i];
  return out;
}

int enroll(const Options& o) {
  auto server = o.flags.find("server");
  auto ca = o.flags.find("ca");
  auto token = o.flags.find("token");
  if (server == o.flags.end() || ca == o.flags.end() || token == o.flags.end()) return usage();
  chat::EnrollRequest request;
  request.home = o.home;
  std::size_t colon = server->second.rfind(':');
  if (colon == std::string::npos) return usage();
  request.host = server->second.substr(0, colon);
  request.port = static_cast<std::uint16_t>(std::atoi(server->second.c_str() + colon + 1));
  auto ca_pem = read_file(ca->second, 1 << 20);
  if (!ca_pem) return fail("cannot read " + ca->second, ca_pem.error());
  request.ca_pem = std::string(as_string(*ca_pem));
  request.token = token->second;
  if (auto suite = o.flags.find("suite"); suite != o.flags.end()) {
    auto parsed = chat::parse_suite_policy(suite->second);
    if (!parsed) return fail("--suite", parsed.error());
    request.suite = *parsed;
  }
  request.passcode = passcode();
  if (request.passcode.empty()) return fail("enroll", Error::invalid_argument("no passcode (PMOS_PASSCODE or a terminal)"));
  auto name = Client::enroll(request);
  if (!name) return fail("enroll", name.error());
  // Connect once now: it publishes the key packages others need to invite
  // this device.
  auto client = Client::open(o.home, request.passcode);
  if (!client) return fail("open the new profile", client.error());
  if (auto connected = (*client)->connect(); !connected)
    std::fprintf(stderr, "pmos chat: enrolled, but could not publish key packages yet: %s\n",
                 connected.error().to_string().c_str());
  if (o.json) {
    std::cout << nlohmann::json{{"user_id", name->user_id}, {"device_id", name->device_id}, {"home", o.home}}.dump()
              << std::endl;
  } else {
    std::cout << "enrolled: user " << name->user_id << ", device " << name->device_id << " (profile " << o.home
              << ")" << std::endl;
  }
  return 0;
}

class Session {
 public:
  explicit Session(Options o) : o_(std::move(o)) {}

  int run() {
    const std::string& command = o_.args[0];
    auto opened = Client::open(o_.home, passcode());
    if (!opened) return fail("cannot open the profile " + o_.home, opened.error());
    client_ = std::move(*opened);
    client_->set_event_handler([this](const chat::Event& e) { on_event(e); });
    const auto& a = o_.args;
    if (command == "whoami") {
      if (o_.json) {
        std::cout << nlohmann::json{{"user_id", client_->user_id()},
                                    {"device_id", client_->device_id()},
                                    {"mls_suite", client_->suite()}}
                         .dump()
                  << std::endl;
      } else {
        std::cout << client_->user_id() << " / " << client_->device_id() << "  (MLS suite policy "
                  << chat::suite_policy_name(client_->suite()) << ")" << std::endl;
      }
      return 0;
    }
    if (command == "sync") return sync_and_report();
    if (command == "listen") return listen();
    if (command == "conversations") {
      if (auto synced = client_->sync(); !synced) return fail("sync", synced.error());
      return conversations();
    }
    if (command == "create") {
      if (a.size() < 2) return usage();
      std::optional<std::uint16_t> suite;
      if (auto given = o_.flags.find("suite"); given != o_.flags.end()) {
        auto parsed = chat::parse_suite_policy(given->second);
        if (!parsed) return fail("--suite", parsed.error());
        suite = *parsed;
      }
      auto group = client_->create_conversation(a[1], std::vector<std::string>(a.begin() + 2, a.end()), suite);
      if (!group) return fail("create", group.error());
      if (o_.json) {
        std::cout << nlohmann::json{{"conversation", to_hex(*group)}, {"name", a[1]}}.dump() << std::endl;
      } else {
        std::cout << "created " << a[1] << " (" << to_hex(*group) << ")" << std::endl;
      }
      return 0;
    }
    if (command == "fetch-attachment") {
      if (a.size() != 3) return usage();
      auto id = message_id(a[1]);
      if (!id) return fail("fetch-attachment", id.error());
      auto data = client_->fetch_attachment(*id);
      if (!data) return fail("fetch-attachment", data.error());
      if (auto written = write_file(a[2], *data, 0600); !written) return fail("cannot write " + a[2], written.error());
      if (!o_.json) std::cout << "saved " << data->size() << " bytes to " << a[2] << std::endl;
      return 0;
    }
    // Everything else names a conversation.
    if (a.size() < 2) return usage();
    if (auto synced = client_->sync(); !synced) return fail("sync", synced.error());
    auto group_found = client_->find_conversation(a[1]);
    if (!group_found) return fail(a[1], group_found.error());
    Bytes group = *group_found;
    if (command == "invite" && a.size() >= 3) {
      return done("invite", client_->invite(group, std::vector<std::string>(a.begin() + 2, a.end())));
    }
    if (command == "remove" && a.size() == 3) return done("remove", client_->remove_user(group, a[2]));
    if (command == "leave" && a.size() == 2) return done("leave", client_->leave(group));
    if (command == "rename" && a.size() >= 3) return done("rename", client_->rename(group, joined(a, 2)));
    if (command == "timer" && a.size() == 3) {
      return done("timer", client_->set_disappearing(group, static_cast<std::uint32_t>(std::stoul(a[2]))));
    }
    if (command == "send" && a.size() >= 3) {
      std::optional<chat::MessageId> reply_to;
      if (auto r = o_.flags.find("reply-to"); r != o_.flags.end()) {
        auto id = message_id(r->second);
        if (!id) return fail("--reply-to", id.error());
        reply_to = *id;
      }
      return sent("send", client_->send_text(group, joined(a, 2), reply_to));
    }
    if (command == "edit" && a.size() >= 4) {
      auto id = message_id(a[2]);
      if (!id) return fail("edit", id.error());
      return sent("edit", client_->edit(group, *id, joined(a, 3)));
    }
    if (command == "delete" && a.size() == 3) {
      auto id = message_id(a[2]);
      if (!id) return fail("delete", id.error());
      return sent("delete", client_->delete_message(group, *id));
    }
    if (command == "attach" && a.size() == 3) {
      auto data = read_file(a[2], 1 << 21);
      if (!data) return fail("cannot read " + a[2], data.error());
      std::string name = a[2].substr(a[2].rfind('/') == std::string::npos ? 0 : a[2].rfind('/') + 1);
      std::string caption = o_.flags.count("caption") ? o_.flags.at("caption") : "";
      return sent("attach", client_->send_attachment(group, *data, name, "application/octet-stream", caption));
    }
    if (command == "read" && a.size() == 2) {
      std::size_t limit = o_.flags.count("limit") ? std::stoul(o_.flags.at("limit")) : 50;
      auto messages = client_->messages(group, limit);
      if (!messages) return fail("read", messages.error());
      for (const auto& m : *messages) print_message(m, o_.json);
      if (auto marked = client_->mark_read(group); !marked) return fail("read receipts", marked.error());
      return 0;
    }
    if (command == "members" && a.size() == 2) {
      auto members = client_->members(group);
      if (!members) return fail("members", members.error());
      nlohmann::json list = nlohmann::json::array();
      for (const auto& m : *members) {
        if (o_.json) {
          list.push_back({{"user_id", m.user_id}, {"device_id", m.device_id}, {"leaf", m.leaf}});
        } else {
          std::cout << m.user_id << "  " << m.device_id << (m.device_id == client_->device_id() ? "  (this device)" : "")
                    << std::endl;
        }
      }
      if (o_.json) std::cout << list.dump() << std::endl;
      return 0;
    }
    if (command == "open" && a.size() == 2) return interactive(group);
    return usage();
  }

 private:
  int done(const char* what, ErrorOr<void> result) {
    if (!result) return fail(what, result.error());
    if (o_.json) {
      std::cout << nlohmann::json{{"ok", true}}.dump() << std::endl;
    } else {
      std::cout << what << ": done" << std::endl;
    }
    return 0;
  }

  int sent(const char* what, ErrorOr<chat::MessageId> result) {
    if (!result) {
      if (client_->pending_outgoing() > 0)
        std::fprintf(stderr, "pmos chat: queued; it goes out with the next command that reaches the relay\n");
      return fail(what, result.error());
    }
    if (o_.json) {
      std::cout << nlohmann::json{{"id", to_hex(*result)}}.dump() << std::endl;
    } else {
      std::cout << "sent #" << to_hex(*result) << std::endl;
    }
    return 0;
  }

  void on_event(const chat::Event& e) {
    if (!live_) return;
    if (e.kind == chat::Event::Kind::kMessage || e.kind == chat::Event::Kind::kEdited) {
      auto row = client_->store().message(e.message_id);
      if (row && *row && (!filter_ || (*row)->group_id == *filter_)) print_message(**row, o_.json);
      return;
    }
    const char* what = nullptr;
    switch (e.kind) {
      case chat::Event::Kind::kJoined: what = "joined"; break;
      case chat::Event::Kind::kMembers: what = "members changed"; break;
      case chat::Event::Kind::kRenamed: what = "settings changed"; break;
      case chat::Event::Kind::kLeft: what = "left (removed)"; break;
      case chat::Event::Kind::kDeleted: what = "a message was deleted"; break;
      default: return;
    }
    if (o_.json) {
      std::cout << nlohmann::json{{"event", what}, {"conversation", to_hex(e.group_id)}}.dump() << std::endl;
    } else {
      auto conversation = client_->store().conversation(e.group_id);
      std::string name = conversation && *conversation ? (*conversation)->name : to_hex(e.group_id);
      std::cout << "* " << name << ": " << what << std::endl;
    }
  }

  int sync_and_report() {
    live_ = true;
    auto n = client_->sync();
    if (!n) return fail("sync", n.error());
    if (o_.json) {
      std::cout << nlohmann::json{{"processed", *n}}.dump() << std::endl;
    } else {
      std::cout << "processed " << *n << " deliveries" << std::endl;
    }
    return 0;
  }

  int listen() {
    live_ = true;
    for (;;) {
      auto n = client_->sync(25s);
      if (!n) {
        std::fprintf(stderr, "pmos chat: %s; retrying\n", n.error().to_string().c_str());
        ::sleep(2);
      }
    }
  }

  int conversations() {
    auto rows = client_->conversations();
    if (!rows) return fail("conversations", rows.error());
    nlohmann::json list = nlohmann::json::array();
    for (const auto& c : *rows) {
      if (o_.json) {
        list.push_back({{"id", to_hex(c.group_id)}, {"name", c.name}, {"status", c.status}, {"disappear_s", c.disappear_s}});
      } else {
        std::cout << to_hex(c.group_id) << "  " << c.name << (c.status == "active" ? "" : "  (" + c.status + ")")
                  << (c.disappear_s ? "  (messages disappear after " + std::to_string(c.disappear_s) + " s)" : "")
                  << std::endl;
      }
    }
    if (o_.json) std::cout << list.dump() << std::endl;
    return 0;
  }

  // Lines typed are sent; what arrives is printed. Stdin and the relay are
  // watched in turns of a few hundred ms (the blocking client cannot wait on
  // both at once); the connection stays open, so pushed deliveries wait in it.
  int interactive(const Bytes& group) {
    live_ = true;
    filter_ = group;
    std::cout << "chatting in " << to_hex(group) << "; type a line to send it, Ctrl-D to quit" << std::endl;
    if (auto recent = client_->messages(group, 20)) {
      for (const auto& m : *recent) print_message(m, o_.json);
    }
    for (;;) {
      pollfd fd{STDIN_FILENO, POLLIN, 0};
      int ready = ::poll(&fd, 1, 200);
      if (ready > 0) {
        std::string line;
        if (!std::getline(std::cin, line)) return 0;
        if (line.empty()) continue;
        auto id = client_->send_text(group, line);
        if (!id) std::fprintf(stderr, "pmos chat: send: %s\n", id.error().to_string().c_str());
      }
      auto n = client_->sync(300ms);
      if (!n) std::fprintf(stderr, "pmos chat: %s\n", n.error().to_string().c_str());
    }
  }

  Options o_;
  std::unique_ptr<Client> client_;
  bool live_ = false;
  std::optional<Bytes> filter_;
};

}  // namespace

int run_chat_command(const std::vector<std::string>& args) {
  Options o;
  if (const char* home = std::getenv("PMOS_CHAT_HOME")) o.home = home;
  else if (const char* user_home = std::getenv("HOME")) o.home = std::string(user_home) + "/.pmos/chat";
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h" || arg == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--json") {
      o.json = true;
    } else if (arg.rfind("--", 0) == 0 && arg.size() > 2) {
      if (i + 1 >= args.size()) return usage();
      std::string name = arg.substr(2);
      if (name == "home") {
        o.home = args[++i];
      } else if (name == "server" || name == "ca" || name == "token" || name == "suite" || name == "reply-to" ||
                 name == "caption" || name == "limit") {
        o.flags[name] = args[++i];
      } else {
        std::fprintf(stderr, "pmos chat: unknown option %s\n", arg.c_str());
        return 2;
      }
    } else {
      o.args.push_back(arg);
    }
  }
  if (o.args.empty() || o.home.empty()) return usage();
  if (o.args[0] == "enroll") return enroll(o);
  try {
    return Session(std::move(o)).run();
  } catch (const std::exception& e) {
    // std::stoul on a bad number.
    std::fprintf(stderr, "pmos chat: %s\n", e.what());
    return 2;
  }
}

}  // namespace pmos::cli

// pmos-mls: PMOS's MLS from the command line, over files and stdin/stdout, so
// that scripts, operators and other MLS implementations can drive it. Every
// MLS object in or out is a TLS-encoded MLSMessage (RFC 9420 §6); the group
// state and key package bundles are files holding secrets (mode 0600).
// See docs/pmos-mls.md.

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "pmos/base/file.h"
#include "pmos/mls/state.h"

namespace {

using namespace pmos;
using namespace pmos::mls;

constexpr const char* kUsage = R"(usage: pmos-mls COMMAND [OPTIONS]

  key-package --identity NAME --bundle FILE [--suite S] [--out FILE]
        new signature key + key package; the bundle (private) goes to FILE, the
        KeyPackage MLSMessage to --out (default stdout)
        S: national (0xF0A1), international (0x0001) or a suite number
  create --bundle FILE --group-id TEXT --state FILE
        a new group with one member (the bundle's)
  commit --state FILE [--add KP_FILE]... [--remove LEAF]... [--path] [--encrypt]
         [--no-inline-tree] [--reinit-group-id TEXT [--reinit-suite S]]
         --out FILE [--welcome FILE] [--next-state FILE]
        commits pending proposals plus the given adds/removes (or a ReInit,
        which ends the group); the next epoch's state goes to --next-state
        (default: replaces --state)
  propose-update --state FILE --out FILE
        proposes a fresh leaf key for ourselves (kept in the state until a
        commit by another member includes it)
  reinit --state FILE --bundle FILE [--add KP_FILE]... --new-state FILE --welcome FILE
        in a group a ReInit ended: the new group it names, with the members
        given (key packages for the new suite)
  branch --state FILE --group-id TEXT --bundle FILE [--add KP_FILE]...
         --new-state FILE --welcome FILE
        a subgroup of this group's members under a new group id
  join-resumed --old-state FILE --bundle FILE --welcome FILE --state FILE [--tree FILE]
        joins the group a reinit or branch of the old group made
  join --bundle FILE --welcome FILE --state FILE [--tree FILE]
  handle --state FILE --in FILE
        a proposal (recorded) or a commit (the state moves to the next epoch)
  protect --state FILE [--aad TEXT] < plaintext > message
  unprotect --state FILE < message > plaintext   (sender leaf on stderr)
  export --state FILE --label TEXT --length N [--context HEX]
  roster --state FILE
  info --state FILE        group id, epoch, suite, own leaf, epoch authenticator
)";

struct Args {
  std::string command;
  std::map<std::string, std::vector<std::string>> options;
  std::map<std::string, bool> flags;

  const std::string* get(const std::string& name) const {
    auto it = options.find(name);
    return it == options.end() ? nullptr : &it->second.back();
  }
  std::vector<std::string> all(const std::string& name) const {
    auto it = options.find(name);
    return it == options.end() ? std::vector<std::string>{} : it->second;
  }
  bool flag(const std::string& name) const { return flags.contains(name); }
};

const std::vector<std::string> kFlags = {"path", "encrypt", "no-inline-tree"};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "pmos-mls: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T must(ErrorOr<T> result, const std::string& doing) {
  if (!result) fail(doing + ": " + result.error().to_string());
  if constexpr (!std::is_void_v<T>) return result.release_value();
}

const std::string& need(const Args& args, const std::string& name) {
  const std::string* value = args.get(name);
  if (value == nullptr) fail("missing --" + name);
  return *value;
}

Bytes read_stdin() {
  Bytes out;
  std::uint8_t buffer[65536];
  ssize_t n;
  while ((n = ::read(0, buffer, sizeof buffer)) > 0) out.insert(out.end(), buffer, buffer + n);
  if (n < 0) fail("reading stdin failed");
  return out;
}

void write_out(const std::string* path, BytesView bytes) {
  if (path == nullptr || *path == "-") {
    if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size()) fail("writing stdout failed");
    return;
  }
  must(write_file_atomic(*path, bytes, 0644), "writing " + *path);
}

MlsMessage read_message(const std::string& path) {
  Bytes bytes = must(read_file(path), "reading " + path);
  return must(tls::decode<MlsMessage>(bytes), path + " is not an MLSMessage");
}

State load_state(const std::string& path) {
  Bytes saved = must(read_file(path), "reading " + path);
  State state = must(State::load(saved), "loading the group state from " + path);
  secure_zero(saved);
  return state;
}

void save_state(const std::string& path, const State& state) {
  SecretBytes saved = state.save();
  must(write_file_atomic(path, saved, 0600), "writing " + path);
}

// --suite and --reinit-suite: "international" (0x0001), "national" (0xF0A1,
// issue 9) or a number ("3", "0xF0A1"); the suite must exist.
std::uint16_t parse_suite(const std::string& text) {
  std::uint16_t id = 0;
  if (text == "international") {
    id = 0x0001;
  } else if (text == "national") {
    id = 0xF0A1;
  } else {
    std::string_view digits = text;
    int base = 10;
    if (digits.starts_with("0x") || digits.starts_with("0X")) {
      digits.remove_prefix(2);
      base = 16;
    }
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), id, base);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size())
      fail("--suite wants national, international or a cipher suite number, not \"" + text + "\"");
  }
  must(crypto::CipherSuite::from_id(id), "cipher suite " + text);
  return id;
}

KeyPackageBundle load_bundle(const std::string& path) {
  Bytes saved = must(read_file(path), "reading " + path);
  KeyPackageBundle bundle = must(KeyPackageBundle::load(saved), "loading the key package bundle from " + path);
  secure_zero(saved);
  return bundle;
}

int key_package(const Args& args) {
  std::uint16_t suite_id = parse_suite(args.get("suite") ? *args.get("suite") : "international");
  auto suite = must(crypto::CipherSuite::from_id(suite_id), "cipher suite");
  crypto::PrivateKey signer = must(suite.signature().generate(), "signature key");
  KeyPackageBundle bundle = must(
      KeyPackageBundle::create(suite, Credential{BasicCredential{to_bytes(need(args, "identity"))}}, signer),
      "key package");
  must(write_file_atomic(need(args, "bundle"), bundle.save(), 0600), "writing the bundle");
  write_out(args.get("out"), tls::encode(MlsMessage{ProtocolVersion::kMls10, bundle.key_package}));
  return 0;
}

int create(const Args& args) {
  KeyPackageBundle bundle = load_bundle(need(args, "bundle"));
  auto suite = must(crypto::CipherSuite::from_id(static_cast<std::uint16_t>(bundle.key_package.cipher_suite)), "suite");
  State state = must(State::create(suite, to_bytes(need(args, "group-id")), std::move(bundle)), "creating the group");
  save_state(need(args, "state"), state);
  return 0;
}

int commit(const Args& args) {
  const std::string& state_path = need(args, "state");
  State state = load_state(state_path);
  State::CommitOptions options;
  for (const auto& path : args.all("add")) {
    MlsMessage message = read_message(path);
    const auto* kp = std::get_if<KeyPackage>(&message.message);
    if (kp == nullptr) fail(path + " is not a KeyPackage");
    options.proposals.push_back(Proposal{Add{*kp}});
  }
  for (const auto& leaf : args.all("remove"))
    options.proposals.push_back(Proposal{Remove{LeafIndex(static_cast<std::uint32_t>(std::stoul(leaf)))}});
  if (const std::string* group_id = args.get("reinit-group-id")) {
    std::uint16_t suite = args.get("reinit-suite")
                              ? parse_suite(*args.get("reinit-suite"))
                              : state.suite().id();
    options.proposals.push_back(
        Proposal{ReInit{to_bytes(*group_id), ProtocolVersion::kMls10, static_cast<CipherSuiteId>(suite), {}}});
  }
  options.force_path = args.flag("path");
  options.encrypt = args.flag("encrypt");
  options.inline_tree = !args.flag("no-inline-tree");
  CommitResult result = must(state.commit(options), "committing");
  write_out(&need(args, "out"), tls::encode(result.commit));
  if (result.welcome) {
    const std::string* welcome = args.get("welcome");
    if (welcome == nullptr) fail("the commit adds members: give --welcome FILE");
    write_out(welcome, tls::encode(*result.welcome));
  }
  // An encrypted commit advanced this epoch's ratchet: keep that too.
  if (args.get("next-state")) save_state(state_path, state);
  save_state(args.get("next-state") ? *args.get("next-state") : state_path, result.next);
  return 0;
}

int propose_update(const Args& args) {
  const std::string& state_path = need(args, "state");
  State state = load_state(state_path);
  MlsMessage proposal = must(state.propose_update(), "proposing an update");
  write_out(&need(args, "out"), tls::encode(proposal));
  save_state(state_path, state);  // holds the new leaf's private key
  return 0;
}

std::vector<KeyPackage> key_packages(const Args& args) {
  std::vector<KeyPackage> out;
  for (const auto& path : args.all("add")) {
    MlsMessage message = read_message(path);
    const auto* kp = std::get_if<KeyPackage>(&message.message);
    if (kp == nullptr) fail(path + " is not a KeyPackage");
    out.push_back(*kp);
  }
  return out;
}

int resumed(const Args& args, bool reinit) {
  State state = load_state(need(args, "state"));
  KeyPackageBundle bundle = load_bundle(need(args, "bundle"));
  CommitResult result = reinit ? must(state.reinit(std::move(bundle), key_packages(args)), "re-initialising")
                               : must(state.branch(to_bytes(need(args, "group-id")), std::move(bundle),
                                                   key_packages(args)),
                                      "branching");
  if (result.welcome) write_out(&need(args, "welcome"), tls::encode(*result.welcome));
  save_state(need(args, "new-state"), result.next);
  return 0;
}
int reinit(const Args& args) { return resumed(args, true); }
int branch(const Args& args) { return resumed(args, false); }

int join_resumed(const Args& args) {
  State old = load_state(need(args, "old-state"));
  KeyPackageBundle bundle = load_bundle(need(args, "bundle"));
  MlsMessage message = read_message(need(args, "welcome"));
  const auto* welcome = std::get_if<Welcome>(&message.message);
  if (welcome == nullptr) fail("--welcome is not a Welcome");
  std::optional<RatchetTree> tree;
  if (const std::string* path = args.get("tree")) {
    tree = must(tls::decode<RatchetTree>(must(read_file(*path), "reading " + *path)), "decoding the ratchet tree");
  }
  State state = must(old.join_resumed(*welcome, bundle, tree), "joining the resumed group");
  save_state(need(args, "state"), state);
  return 0;
}

int join(const Args& args) {
  KeyPackageBundle bundle = load_bundle(need(args, "bundle"));
  MlsMessage message = read_message(need(args, "welcome"));
  const auto* welcome = std::get_if<Welcome>(&message.message);
  if (welcome == nullptr) fail("--welcome is not a Welcome");
  std::optional<RatchetTree> tree;
  if (const std::string* path = args.get("tree")) {
    tree = must(tls::decode<RatchetTree>(must(read_file(*path), "reading " + *path)), "decoding the ratchet tree");
  }
  State state = must(State::join(*welcome, bundle, tree), "joining");
  save_state(need(args, "state"), state);
  return 0;
}

int handle(const Args& args) {
  const std::string& state_path = need(args, "state");
  State state = load_state(state_path);
  MlsMessage message = read_message(need(args, "in"));
  // The content type is visible in both framings, so no key is spent on
  // finding out what the message is.
  ContentType type = ContentType::kReserved;
  if (const auto* pub = std::get_if<PublicMessage>(&message.message)) type = pub->content.content_type();
  if (const auto* priv = std::get_if<PrivateMessage>(&message.message)) type = priv->content_type;
  if (type == ContentType::kCommit) {
    State next = must(state.handle_commit(message), "handling the commit");
    save_state(state_path, next);
    std::fprintf(stderr, "moved to epoch %llu\n", static_cast<unsigned long long>(next.epoch()));
  } else if (type == ContentType::kProposal) {
    must(state.handle_proposal(message), "handling the proposal");
    save_state(state_path, state);
    std::fprintf(stderr, "proposal recorded\n");
  } else {
    fail("not a proposal or commit (application messages go to unprotect)");
  }
  return 0;
}

int protect(const Args& args) {
  const std::string& state_path = need(args, "state");
  State state = load_state(state_path);
  Bytes plaintext = read_stdin();
  std::string aad = args.get("aad") ? *args.get("aad") : "";
  MlsMessage message = must(state.protect(plaintext, as_bytes(aad)), "protecting");
  save_state(state_path, state);  // the ratchet moved: never reuse a key
  write_out(nullptr, tls::encode(message));
  return 0;
}

int unprotect(const Args& args) {
  const std::string& state_path = need(args, "state");
  State state = load_state(state_path);
  MlsMessage message = must(tls::decode<MlsMessage>(read_stdin()), "stdin is not an MLSMessage");
  Received received = must(state.unprotect(message), "unprotecting");
  save_state(state_path, state);
  if (received.kind != Received::Kind::kApplication) fail("not an application message: use handle");
  std::fprintf(stderr, "from leaf %u\n", received.sender.value);
  write_out(nullptr, received.application_data);
  return 0;
}

int export_secret(const Args& args) {
  State state = load_state(need(args, "state"));
  Bytes context = args.get("context") ? must(from_hex(*args.get("context")), "--context") : Bytes{};
  SecretBytes secret = must(state.export_secret(need(args, "label"), context,
                                                static_cast<std::uint16_t>(std::stoul(need(args, "length")))),
                            "exporting");
  std::printf("%s\n", to_hex(secret).c_str());
  return 0;
}

int roster(const Args& args) {
  State state = load_state(need(args, "state"));
  for (const auto& [leaf, node] : state.roster()) {
    std::string identity = "(x509)";
    if (const auto* basic = std::get_if<BasicCredential>(&node->credential.value)) identity = std::string(as_string(basic->identity));
    std::printf("%u\t%s\t%s\n", leaf.value, identity.c_str(), to_hex(node->signature_key).c_str());
  }
  return 0;
}

int info(const Args& args) {
  State state = load_state(need(args, "state"));
  std::printf("group_id\t%s\nepoch\t%llu\nsuite\t0x%04x %s\nown_leaf\t%u\nmembers\t%zu\nepoch_authenticator\t%s\n",
              std::string(as_string(state.group_id())).c_str(), static_cast<unsigned long long>(state.epoch()),
              state.suite().id(), std::string(state.suite().name()).c_str(), state.own_leaf().value,
              state.roster().size(), to_hex(state.epoch_authenticator()).c_str());
  if (const auto& reinit = state.ended_by_reinit()) {
    std::printf("ended_by_reinit\t%s 0x%04x\n", std::string(as_string(reinit->group_id)).c_str(),
                static_cast<unsigned>(reinit->cipher_suite));
  }
  return 0;
}

Args parse(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    std::exit(argc < 2 ? 2 : 0);
  }
  Args args;
  args.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) fail("unexpected argument '" + arg + "' (see --help)");
    std::string name = arg.substr(2);
    if (std::find(kFlags.begin(), kFlags.end(), name) != kFlags.end()) {
      args.flags[name] = true;
    } else {
      if (i + 1 >= argc) fail("--" + name + " needs a value");
      args.options[name].push_back(argv[++i]);
    }
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parse(argc, argv);
  static const std::map<std::string, int (*)(const Args&)> kCommands = {
      {"key-package", key_package}, {"create", create}, {"commit", commit},   {"join", join},
      {"handle", handle},           {"protect", protect}, {"unprotect", unprotect},
      {"export", export_secret},    {"roster", roster},  {"info", info},
      {"propose-update", propose_update}, {"reinit", reinit}, {"branch", branch},
      {"join-resumed", join_resumed},
  };
  auto it = kCommands.find(args.command);
  if (it == kCommands.end()) fail("unknown command '" + args.command + "' (see --help)");
  try {
    return it->second(args);
  } catch (const std::exception& e) {  // std::stoul on a bad number
    fail(std::string("bad argument: ") + e.what());
  }
}

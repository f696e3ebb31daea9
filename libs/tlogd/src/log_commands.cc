#include "pmos/tlogd/log_commands.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <thread>

#include "pmos/base/file.h"
#include "pmos/tlog/cosignature.h"
#include "pmos/tlog/memory_hash_store.h"
#include "pmos/tlog/merkle.h"
#include "pmos/tlog/proof.h"
#include "pmos/tlogd/client.h"

namespace pmos::tlogd {

namespace cli {

ErrorOr<Flags> parse_flags(const std::vector<std::string>& args) {
  Flags flags;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (!args[i].starts_with("--")) return Error::invalid_argument("expected --flag");
    if (args[i] == "--once") {
      flags["once"] = "1";
      continue;
    }
    if (i + 1 >= args.size()) return Error::invalid_argument("flag without a value");
    flags[args[i].substr(2)] = args[i + 1];
    ++i;
  }
  return flags;
}

std::string flag(const Flags& flags, std::string_view name, std::string fallback) {
  auto it = flags.find(name);
  return it == flags.end() ? fallback : it->second;
}

ErrorOr<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty())
    return Error::invalid_argument("not a decimal number");
  return value;
}

ErrorOr<std::string> read_text(const std::string& path) {
  Bytes bytes = TRY(read_file(path, tlog::kMaxNoteSize));
  return std::string(as_string(bytes));
}

std::string trim(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace cli

namespace {

using namespace cli;

std::string g_program;  // for messages; set once per command

int fail(const char* what, const Error& error) {
  std::fprintf(stderr, "%s: %s: %s\n", g_program.c_str(), what, error.to_string().c_str());
  return error.category() == ErrorCategory::kCrypto ? kExitCheckFailed : kExitUsage;
}

ErrorOr<std::string> key_text(std::string text) {
  if (text.starts_with("@")) text = TRY(read_text(text.substr(1)));
  return trim(std::move(text));
}

struct Remote {
  tlog::Ed25519NoteVerifier key;
  std::optional<tlog::WitnessPolicy> policy;
  std::unique_ptr<LogClient> client;

  // The note opened with the log key and, if witnesses were given, the
  // witness policy.
  ErrorOr<tlog::Checkpoint> open(std::string_view note) const {
    if (!policy) return TRY(tlog::open_checkpoint(note, key.name(), key)).checkpoint;
    const auto now = static_cast<std::uint64_t>(std::time(nullptr));
    auto opened = TRY(tlog::open_witnessed_checkpoint(note, key.name(), key, *policy, now));
    return opened.checkpoint;
  }
  ErrorOr<tlog::Checkpoint> fetch() const {
    auto note = TRY(client->fetch_checkpoint_note());
    return open(note);
  }
};

ErrorOr<Remote> connect_remote(const Flags& flags) {
  auto key = TRY(tlog::Ed25519NoteVerifier::from_vkey(TRY(key_text(flag(flags, "vkey")))));
  std::optional<tlog::WitnessPolicy> policy;
  if (flags.contains("witness")) {
    std::string list = TRY(key_text(flag(flags, "witness")));
    std::vector<tlog::CosignatureVerifier> witnesses;
    for (std::size_t start = 0; start <= list.size();) {
      std::size_t end = list.find_first_of(",\n", start);
      if (end == std::string::npos) end = list.size();
      if (end > start) witnesses.push_back(TRY(tlog::CosignatureVerifier::from_vkey(trim(list.substr(start, end - start)))));
      start = end + 1;
    }
    std::size_t quorum = witnesses.size();
    if (flags.contains("quorum")) quorum = TRY(parse_u64(flag(flags, "quorum")));
    policy = TRY(tlog::WitnessPolicy::create(std::move(witnesses), quorum));
  } else if (flags.contains("quorum")) {
    return Error::invalid_argument("--quorum without --witness");
  }
  auto url = TRY(parse_log_url(flag(flags, "url")));
  net::TlsClientConfig tls;
  if (flags.contains("ca")) tls.ca = net::PemSource::file(flag(flags, "ca"));
  auto client = TRY(LogClient::connect(tls, url));
  return Remote{std::move(key), std::move(policy), std::move(client)};
}

void print_checkpoint(const tlog::Checkpoint& checkpoint) {
  std::printf("origin %s\nsize %llu\nroot %s\n", checkpoint.origin.c_str(),
              static_cast<unsigned long long>(checkpoint.size), to_hex(checkpoint.root).c_str());
}

int show(const Flags& flags) {
  auto remote = connect_remote(flags);
  if (!remote) return fail("connecting", remote.error());
  auto note = remote->client->fetch_checkpoint_note();
  if (!note) return fail("fetching the checkpoint", note.error());
  auto checkpoint = remote->open(*note);
  if (!checkpoint) return fail("checkpoint refused", checkpoint.error());
  print_checkpoint(*checkpoint);
  std::printf("\n%s", note->c_str());
  return kExitVerified;
}

int verify_inclusion(const Flags& flags) {
  auto index = parse_u64(flag(flags, "index"));
  if (!index) return fail("--index", index.error());
  auto remote = connect_remote(flags);
  if (!remote) return fail("connecting", remote.error());
  auto opened = remote->fetch();
  if (!opened) return fail("checkpoint refused", opened.error());
  const tlog::Checkpoint& checkpoint = *opened;
  if (*index >= checkpoint.size) {
    std::fprintf(stderr, "%s: index %llu is not in the tree of size %llu (yet)\n", g_program.c_str(),
                 static_cast<unsigned long long>(*index), static_cast<unsigned long long>(checkpoint.size));
    return kExitCheckFailed;
  }
  auto entry = remote->client->fetch_entry(*index, checkpoint.size);
  if (!entry) return fail("fetching the entry", entry.error());
  if (flags.contains("entry")) {
    auto expected = read_file(flag(flags, "entry"));
    if (!expected) return fail("--entry", expected.error());
    if (*expected != *entry) {
      std::fprintf(stderr, "%s: FAILED: the log holds a different entry at this index\n", g_program.c_str());
      return kExitCheckFailed;
    }
  }
  auto proof = remote->client->inclusion_proof(*index, checkpoint.size);
  if (!proof) return fail("inclusion proof", proof.error());
  auto verified = tlog::verify_inclusion(*index, checkpoint.size, tlog::leaf_hash(*entry), *proof, checkpoint.root);
  if (!verified) return fail("FAILED: inclusion proof", verified.error());
  std::printf("OK entry %llu (%zu bytes, leaf %s) is in %s at size %llu\n", static_cast<unsigned long long>(*index),
              entry->size(), to_hex(tlog::leaf_hash(*entry)).c_str(), checkpoint.origin.c_str(),
              static_cast<unsigned long long>(checkpoint.size));
  return kExitVerified;
}

// Checks that `current` extends `old`, with a proof from the log's tiles.
ErrorOr<void> check_consistent(LogClient& client, const tlog::Checkpoint& old, const tlog::Checkpoint& current) {
  if (current.size < old.size) return Error::crypto("the log shrank: current checkpoint is smaller than the old one");
  auto proof = TRY(client.consistency_proof(old.size, current.size));
  return tlog::verify_consistency(old.size, current.size, old.root, current.root, proof);
}

int verify_consistency(const Flags& flags) {
  auto remote = connect_remote(flags);
  if (!remote) return fail("connecting", remote.error());
  auto old_note = read_text(flag(flags, "old"));
  if (!old_note) return fail("--old", old_note.error());
  // The old checkpoint needs the log's signature only: it is what the
  // caller saw before, cosigned or not.
  auto old = tlog::open_checkpoint(*old_note, remote->key.name(), remote->key);
  if (!old) return fail("old checkpoint refused", old.error());
  auto current = remote->fetch();
  if (!current) return fail("checkpoint refused", current.error());
  auto consistent = check_consistent(*remote->client, old->checkpoint, *current);
  if (!consistent) return fail("FAILED: consistency", consistent.error());
  std::printf("OK size %llu extends size %llu\n", static_cast<unsigned long long>(current->size),
              static_cast<unsigned long long>(old->checkpoint.size));
  return kExitVerified;
}

void progress(std::uint64_t done, std::uint64_t total, std::uint64_t bytes) {
  constexpr int kWidth = 40;
  const int filled = total == 0 ? kWidth : static_cast<int>(done * kWidth / total);
  std::fprintf(stderr, "\r[%s%s] %llu/%llu entries, %.1f MiB", std::string(static_cast<std::size_t>(filled), '#').c_str(),
               std::string(static_cast<std::size_t>(kWidth - filled), ' ').c_str(),
               static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
               static_cast<double>(bytes) / (1024.0 * 1024.0));
  if (done == total) std::fputc('\n', stderr);
}

// Follows the log: every new checkpoint must be consistent with the last
// one seen (proof from tiles), and every entry is downloaded and the tree
// recomputed locally, so the root the log signed is checked against the
// entries it serves, not only against its own hashes.
int monitor(const Flags& flags) {
  auto remote = connect_remote(flags);
  if (!remote) return fail("connecting", remote.error());
  std::chrono::milliseconds interval(5000);
  if (flags.contains("interval-ms")) {
    auto ms = parse_u64(flag(flags, "interval-ms"));
    if (!ms || *ms == 0) return fail("--interval-ms", Error::invalid_argument("must be positive"));
    interval = std::chrono::milliseconds(*ms);
  }
  std::optional<tlog::Checkpoint> last;
  if (flags.contains("old")) {
    // Resume from a checkpoint seen before: the log must still extend it.
    auto old_note = read_text(flag(flags, "old"));
    if (!old_note) return fail("--old", old_note.error());
    auto old = tlog::open_checkpoint(*old_note, remote->key.name(), remote->key);
    if (!old) return fail("old checkpoint refused", old.error());
    last = old->checkpoint;
  }
  tlog::MemoryHashStore tree;
  for (;;) {
    auto opened = remote->fetch();
    if (!opened) return fail("checkpoint refused", opened.error());
    const tlog::Checkpoint current = *opened;
    if (last) {
      auto consistent = check_consistent(*remote->client, *last, current);
      if (!consistent) return fail("FAILED: new checkpoint is not consistent with the last one", consistent.error());
    }
    // Download the new entries bundle by bundle.
    while (tree.size() < current.size) {
      const std::uint64_t start = tree.size();
      tlog::TileId bundle{0, start / tlog::kTileWidth, tlog::kTileWidth};
      const std::uint64_t in_tile = current.size - bundle.index * tlog::kTileWidth;
      if (in_tile < tlog::kTileWidth) bundle.width = static_cast<std::uint16_t>(in_tile);
      auto entries = remote->client->fetch_entry_bundle(bundle);
      if (!entries) return fail("fetching entries", entries.error());
      for (std::size_t i = start % tlog::kTileWidth; i < entries->size(); ++i)
        tree.append(tlog::leaf_hash((*entries)[i]));
      progress(tree.size(), current.size, remote->client->bytes_received());
    }
    auto root = tlog::tree_hash(tree, current.size);
    if (!root) return fail("recomputing the tree", root.error());
    if (*root != current.root) {
      std::fprintf(stderr, "%s: FAILED: the served entries do not produce the signed root\n", g_program.c_str());
      return kExitCheckFailed;
    }
    if (!last || last->size != current.size)
      std::printf("OK size %llu root %s\n", static_cast<unsigned long long>(current.size), to_hex(current.root).c_str());
    std::fflush(stdout);
    last = current;
    if (flags.contains("once")) return kExitVerified;
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace

bool is_log_client_command(std::string_view command) {
  return command == "show" || command == "verify-inclusion" || command == "verify-consistency" ||
         command == "monitor";
}

std::string log_client_usage(std::string_view program) {
  const std::string p(program);
  return "usage: " + p + " show --url URL --vkey VKEY|@FILE [--ca FILE] [--witness VKEY,... [--quorum N]]\n" +
         "       " + p + " verify-inclusion --url URL --vkey VKEY [--ca FILE] --index N [--entry FILE] [witnesses]\n" +
         "       " + p + " verify-consistency --url URL --vkey VKEY [--ca FILE] --old CHECKPOINT_FILE [witnesses]\n" +
         "       " + p + " monitor --url URL --vkey VKEY [--ca FILE] [--old CHECKPOINT_FILE] [--interval-ms N]\n" +
         "              [--once] [witnesses]\n";
}

int run_log_client_command(std::string_view program, std::string_view command, const std::vector<std::string>& args) {
  g_program = std::string(program);
  auto flags = parse_flags(args);
  if (!flags || !is_log_client_command(command)) {
    std::fputs(log_client_usage(program).c_str(), stderr);
    return kExitUsage;
  }
  if (command == "show") return show(*flags);
  if (command == "verify-inclusion") return verify_inclusion(*flags);
  if (command == "verify-consistency") return verify_consistency(*flags);
  return monitor(*flags);
}

}  // namespace pmos::tlogd

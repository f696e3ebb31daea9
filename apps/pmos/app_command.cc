#include "app_command.h"

#include <cerrno>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "file_io.h"
#include "pmos/base/codec.h"
#include "pmos/crypto/hash.h"
#include "pmos/crypto/signature.h"
#include "pmos/pkg/errors.h"
#include "pmos/pkg/key_file.h"
#include "pmos/pkg/package.h"
#include "pmos/pkg/payload.h"
#include "pmos/pkg/standard.h"
#include "pmos/pkg/trust.h"
#include "pmos/pkg/vet.h"

namespace pmos::cli {
namespace {

constexpr int kOk = 0;
constexpr int kRefused = 1;
constexpr int kUsage = 2;

constexpr const char* kUsageText =
    "usage: pmos app <command> ...\n"
    "  keygen      --out PREFIX                       write PREFIX.key (0600) and PREFIX.pub\n"
    "  pack        --dir DIR --manifest M.json --out PKG\n"
    "  rotate      --old-key OLD.key --new-pub NEW.pub --app-id ID --out R.rot\n"
    "  sign        --key DEV.key [--rotation R.rot]... --in PKG --out PKG\n"
    "  vet         --standard S.json PKG               exit 1 if the package fails\n"
    "  countersign --key AUTH.key --standard S.json --in PKG --out PKG\n"
    "  verify      --authority AUTH.pub... --standard S.json [--pins PINS] PKG\n"
    "  inspect     PKG\n";

// Parsed "--name value" options (repeatable) and positional arguments.
struct Options {
  std::map<std::string, std::vector<std::string>> values;
  std::vector<std::string> positional;

  std::optional<std::string> one(const std::string& name) const {
    auto it = values.find(name);
    if (it == values.end() || it->second.size() != 1) return std::nullopt;
    return it->second.front();
  }
  std::vector<std::string> all(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? std::vector<std::string>{} : it->second;
  }
};

std::optional<Options> parse_options(const std::vector<std::string>& args, std::size_t first,
                                     const std::set<std::string>& known) {
  Options options;
  for (std::size_t i = first; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.starts_with("--")) {
      std::string name = arg.substr(2);
      if (!known.contains(name) || i + 1 >= args.size()) {
        std::fprintf(stderr, "pmos app: unknown option or missing value: %s\n", arg.c_str());
        return std::nullopt;
      }
      options.values[name].push_back(args[++i]);
    } else {
      options.positional.push_back(arg);
    }
  }
  return options;
}

int fail(const std::string& what, const Error& error) {
  std::fprintf(stderr, "pmos app: %s: %s\n", what.c_str(), error.to_string().c_str());
  return kRefused;
}

int usage(const char* message) {
  std::fprintf(stderr, "pmos app: %s\n%s", message, kUsageText);
  return kUsage;
}

std::string text_of(const Bytes& bytes) { return std::string(as_string(bytes)); }

ErrorOr<pkg::Package> load_package(const std::string& path) {
  Bytes file = TRY(read_file(path));
  return pkg::decode_package(file);
}

ErrorOr<crypto::PrivateKey> load_private_key(const std::string& path) {
  Bytes text = TRY(read_private_file(path));
  auto key = pkg::parse_private_key_file(text_of(text));
  secure_zero(text);
  return key;
}

ErrorOr<pkg::AppStandard> load_standard(const std::string& path) {
  Bytes text = TRY(read_file(path, 1 << 20));
  return pkg::AppStandard::from_json(text_of(text));
}

int keygen(const Options& o) {
  auto out = o.one("out");
  if (!out) return usage("keygen needs --out PREFIX");
  auto key = crypto::ed25519().generate();
  if (!key) return fail("keygen", key.error());
  std::string private_text = pkg::format_private_key_file(*key);
  auto wrote = write_file(*out + ".key", as_bytes(private_text), 0600);
  secure_zero(MutableBytesView(reinterpret_cast<std::uint8_t*>(private_text.data()), private_text.size()));
  if (!wrote) return fail(*out + ".key", wrote.error());
  pkg::SignerKey public_key = pkg::signer_key_of(*key);
  if (auto r = write_file(*out + ".pub", as_bytes(pkg::format_public_key_file(public_key))); !r)
    return fail(*out + ".pub", r.error());
  std::printf("key id %s\n", to_hex(public_key.id()).c_str());
  return kOk;
}

int pack(const Options& o) {
  auto dir = o.one("dir"), manifest_path = o.one("manifest"), out = o.one("out");
  if (!dir || !manifest_path || !out) return usage("pack needs --dir, --manifest and --out");
  auto manifest_text = read_file(*manifest_path, 1 << 20);
  if (!manifest_text) return fail(*manifest_path, manifest_text.error());
  auto manifest = pkg::manifest_from_json(text_of(*manifest_text));
  if (!manifest) return fail(*manifest_path, manifest.error());
  auto payload = pkg::payload_from_directory(*dir);
  if (!payload) return fail(*dir, payload.error());
  auto package = pkg::make_package(std::move(*manifest), std::move(*payload));
  if (!package) return fail("pack", package.error());
  if (auto r = write_file(*out, pkg::encode_package(*package)); !r) return fail(*out, r.error());
  std::printf("packed %zu entries, digest %s\n", package->payload().size(), to_hex(package->digest).c_str());
  return kOk;
}

int rotate(const Options& o) {
  auto old_key_path = o.one("old-key"), new_pub = o.one("new-pub"), app_id = o.one("app-id"), out = o.one("out");
  if (!old_key_path || !new_pub || !app_id || !out) return usage("rotate needs --old-key, --new-pub, --app-id, --out");
  auto old_key = load_private_key(*old_key_path);
  if (!old_key) return fail(*old_key_path, old_key.error());
  auto new_text = read_file(*new_pub, 4096);
  if (!new_text) return fail(*new_pub, new_text.error());
  auto new_key = pkg::parse_public_key_file(text_of(*new_text));
  if (!new_key) return fail(*new_pub, new_key.error());
  auto rotation = pkg::make_rotation(*app_id, *old_key, *new_key);
  if (!rotation) return fail("rotate", rotation.error());
  if (auto r = write_file(*out, tls::encode(*rotation)); !r) return fail(*out, r.error());
  return kOk;
}

int sign(const Options& o) {
  auto key_path = o.one("key"), in = o.one("in"), out = o.one("out");
  if (!key_path || !in || !out) return usage("sign needs --key, --in and --out");
  auto key = load_private_key(*key_path);
  if (!key) return fail(*key_path, key.error());
  auto package = load_package(*in);
  if (!package) return fail(*in, package.error());
  std::vector<pkg::RotationStatement> rotations;
  for (const std::string& path : o.all("rotation")) {
    auto bytes = read_file(path, 1 << 16);
    if (!bytes) return fail(path, bytes.error());
    auto rotation = pkg::decode_rotation(*bytes);
    if (!rotation) return fail(path, rotation.error());
    rotations.push_back(std::move(*rotation));
  }
  auto signed_package = pkg::sign_package(std::move(*package), *key, std::move(rotations));
  if (!signed_package) return fail("sign", signed_package.error());
  if (auto r = write_file(*out, pkg::encode_package(*signed_package)); !r) return fail(*out, r.error());
  std::printf("signed by developer key %s\n", to_hex(signed_package->developer_signature->key.id()).c_str());
  return kOk;
}

int vet_command(const Options& o) {
  auto standard_path = o.one("standard");
  if (!standard_path || o.positional.size() != 1) return usage("vet needs --standard and one package");
  auto standard = load_standard(*standard_path);
  if (!standard) return fail(*standard_path, standard.error());
  auto package = load_package(o.positional[0]);
  if (!package) return fail(o.positional[0], package.error());
  pkg::VetReport report = pkg::vet(*package, *standard);
  std::fputs(report.to_text().c_str(), stdout);
  return report.passed() ? kOk : kRefused;
}

int countersign(const Options& o) {
  auto key_path = o.one("key"), standard_path = o.one("standard"), in = o.one("in"), out = o.one("out");
  if (!key_path || !standard_path || !in || !out) return usage("countersign needs --key, --standard, --in, --out");
  auto key = load_private_key(*key_path);
  if (!key) return fail(*key_path, key.error());
  auto standard = load_standard(*standard_path);
  if (!standard) return fail(*standard_path, standard.error());
  auto package = load_package(*in);
  if (!package) return fail(*in, package.error());
  pkg::VetReport report = pkg::vet(*package, *standard);
  std::fputs(report.to_text().c_str(), stdout);
  auto countersigned = pkg::countersign_package(std::move(*package), *standard, *key);
  if (!countersigned) return fail("countersign", countersigned.error());
  if (auto r = write_file(*out, pkg::encode_package(*countersigned)); !r) return fail(*out, r.error());
  std::printf("countersigned by authority key %s\n", to_hex(countersigned->countersignature->authority_key.id()).c_str());
  return kOk;
}

int verify(const Options& o) {
  auto standard_path = o.one("standard");
  auto authority_paths = o.all("authority");
  if (!standard_path || authority_paths.empty() || o.positional.size() != 1)
    return usage("verify needs --authority (one or more), --standard and one package");
  std::vector<pkg::SignerKey> authorities;
  for (const std::string& path : authority_paths) {
    auto text = read_file(path, 4096);
    if (!text) return fail(path, text.error());
    auto key = pkg::parse_public_key_file(text_of(*text));
    if (!key) return fail(path, key.error());
    authorities.push_back(std::move(*key));
  }
  auto standard = load_standard(*standard_path);
  if (!standard) return fail(*standard_path, standard.error());
  auto package = load_package(o.positional[0]);
  if (!package) return fail(o.positional[0], package.error());
  auto verified = pkg::verify_package(*package, pkg::TrustAnchors(std::move(authorities)), *standard);
  if (!verified) return fail("verify", verified.error());

  // With --pins, act as a device would on install: check continuity against
  // the pin file and record the new pin (a missing file is an empty store).
  if (auto pins_path = o.one("pins")) {
    pkg::PinStore pins;
    if (auto bytes = read_file(*pins_path, 1 << 24)) {
      auto decoded = pkg::PinStore::decode(*bytes);
      if (!decoded) return fail(*pins_path, decoded.error());
      pins = std::move(*decoded);
    } else if (bytes.error().errno_code() != ENOENT) {
      return fail(*pins_path, bytes.error());
    }
    auto next = pins.admit(*verified);
    if (!next) return fail("verify", next.error());
    if (auto r = write_file(*pins_path, next->encode(), 0600); !r) return fail(*pins_path, r.error());
  }
  std::printf("OK %s version %llu, developer key %s, authority key %s, app standard %u\n",
              verified->app_id().c_str(), static_cast<unsigned long long>(verified->version_code()),
              to_hex(verified->developer_key().id()).c_str(), to_hex(verified->authority_key().id()).c_str(),
              standard->version);
  return kOk;
}

int inspect(const Options& o) {
  if (o.positional.size() != 1) return usage("inspect needs one package");
  auto package = load_package(o.positional[0]);
  if (!package) return fail(o.positional[0], package.error());
  std::printf("format   %u\ndigest   %s\nmanifest %s\n", package->content.format_version,
              to_hex(package->digest).c_str(), pkg::manifest_to_json(package->manifest()).c_str());
  std::printf("files (%zu):\n", package->payload().size());
  for (const pkg::Entry& e : package->payload()) {
    std::string detail;
    if (e.type == pkg::EntryType::kFile) {
      detail = std::to_string(e.content.size()) + " bytes sha256 " + to_hex(crypto::sha256().digest(e.content));
    } else if (e.type == pkg::EntryType::kSymlink) {
      detail = "-> " + text_of(e.content);
    }
    std::printf("  %-12s %04o  %s  %s\n", std::string(pkg::to_string(e.type)).c_str(), e.mode, e.path.c_str(),
                detail.c_str());
  }
  if (!package->developer_signature) {
    std::printf("developer signature: none\n");
  } else {
    auto valid = pkg::verify_developer_signature(*package);
    std::printf("developer signature: key id %s (%s)\n", to_hex(package->developer_signature->key.id()).c_str(),
                valid ? "valid" : valid.error().message());
  }
  for (const pkg::RotationStatement& r : package->rotations)
    std::printf("rotation: %s -> %s\n", to_hex(r.body.old_key.id()).c_str(), to_hex(r.body.new_key.id()).c_str());
  if (!package->countersignature) {
    std::printf("countersignature: none\n");
  } else {
    const auto& c = *package->countersignature;
    std::printf(
        "countersignature: authority key id %s\n  record: app %s version %llu standard %u\n"
        "  package digest %s\n  developer key id %s\n  report digest %s\n",
        to_hex(c.authority_key.id()).c_str(), c.record.app_id.c_str(),
        static_cast<unsigned long long>(c.record.version_code), c.record.standard_version,
        to_hex(c.record.package_digest).c_str(), to_hex(c.record.developer_key_id).c_str(),
        to_hex(c.record.report_digest).c_str());
  }
  return kOk;
}

}  // namespace

int run_app_command(const std::vector<std::string>& args) {
  using Handler = std::function<int(const Options&)>;
  const std::map<std::string, std::pair<std::set<std::string>, Handler>> commands = {
      {"keygen", {{"out"}, keygen}},
      {"pack", {{"dir", "manifest", "out"}, pack}},
      {"rotate", {{"old-key", "new-pub", "app-id", "out"}, rotate}},
      {"sign", {{"key", "rotation", "in", "out"}, sign}},
      {"vet", {{"standard"}, vet_command}},
      {"countersign", {{"key", "standard", "in", "out"}, countersign}},
      {"verify", {{"authority", "standard", "pins"}, verify}},
      {"inspect", {{}, inspect}},
  };
  if (args.empty()) return usage("no command given");
  auto it = commands.find(args[0]);
  if (it == commands.end()) return usage("unknown command");
  auto options = parse_options(args, 1, it->second.first);
  if (!options) return kUsage;
  return it->second.second(*options);
}

}  // namespace pmos::cli

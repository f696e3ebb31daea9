#include "pmos/tlogd/key_files.h"

#include <filesystem>

#include "pmos/base/file.h"
#include "pmos/crypto/random.h"

namespace pmos::tlogd {
namespace {

constexpr std::size_t kSeedSize = 32;

std::string trim(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
  return std::string(text);
}

}  // namespace

ErrorOr<LogKeyFiles> load_or_create_log_key(const std::string& directory, std::string_view origin) {
  const std::string path = directory + "/log.skey";
  bool created = false;
  if (!std::filesystem::exists(path)) {
    auto key = TRY(tlog::Ed25519NoteSigner::generate(origin));
    SecretBytes skey = key.skey();
    TRY(write_file_atomic(path, skey.view(), 0600));
    created = true;
  }
  SecretBytes text = SecretBytes::copy_of(TRY(read_file(path, 4096)));
  std::string_view view = as_string(text.view());
  while (!view.empty() && (view.back() == '\n' || view.back() == '\r')) view.remove_suffix(1);
  auto key = TRY(tlog::Ed25519NoteSigner::from_skey(view));
  TRY(write_file_atomic(directory + "/log.vkey", as_bytes(key.verifier().vkey() + "\n"), 0644));
  return LogKeyFiles{std::move(key), created};
}

ErrorOr<WitnessKeyFiles> load_or_create_witness_key(const std::string& directory, std::string_view name) {
  const std::string key_path = directory + "/witness.key";
  const std::string name_path = directory + "/witness.name";
  bool created = false;
  if (!std::filesystem::exists(key_path)) {
    if (!tlog::is_valid_key_name(name)) return Error::invalid_argument("witness: invalid key name");
    // The name first: a key file without its name would be unusable.
    TRY(write_file_atomic(name_path, as_bytes(std::string(name) + "\n"), 0644));
    SecretBytes seed = crypto::random_secret(kSeedSize);
    TRY(write_file_atomic(key_path, seed.view(), 0600));
    created = true;
  }
  const std::string stored_name = trim(as_string(TRY(read_file(name_path, 1024))));
  SecretBytes seed = SecretBytes::copy_of(TRY(read_file(key_path, kSeedSize + 1)));
  if (seed.size() != kSeedSize) return Error::decode("witness.key is not a 32-byte seed");
  auto key = TRY(tlog::CosignatureSigner::from_seed(stored_name, seed.view()));
  TRY(write_file_atomic(directory + "/witness.vkey", as_bytes(key.verifier().vkey() + "\n"), 0644));
  return WitnessKeyFiles{std::move(key), created};
}

ErrorOr<std::vector<tlog::Ed25519NoteVerifier>> parse_log_vkeys(std::string_view text) {
  std::string list(text);
  if (list.starts_with("@")) list = std::string(as_string(TRY(read_file(list.substr(1), 1 << 20))));
  std::vector<tlog::Ed25519NoteVerifier> keys;
  for (std::size_t start = 0; start <= list.size();) {
    std::size_t end = list.find_first_of(",\n", start);
    if (end == std::string::npos) end = list.size();
    std::string item = trim(std::string_view(list).substr(start, end - start));
    if (!item.empty()) keys.push_back(TRY(tlog::Ed25519NoteVerifier::from_vkey(item)));
    start = end + 1;
  }
  if (keys.empty()) return Error::invalid_argument("no log vkey given");
  return keys;
}

}  // namespace pmos::tlogd

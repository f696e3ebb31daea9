#include "pmos/pkg/package.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "pmos/base/codec.h"
#include "pmos/pkg/errors.h"
#include "pmos/pkg/key_file.h"
#include "test_util.h"

namespace pmos::pkg {
namespace {

using testing::directory;
using testing::file;
using testing::sample_manifest;
using testing::sample_package;
using testing::symlink;

// Encodes `package` after recomputing its digest, so that only the change
// under test can make decoding fail.
Bytes reencode(Package package) {
  package.digest = compute_digest(package.content);
  return encode_package(package);
}

TEST(Package, RoundTrip) {
  Package package = sample_package();
  Bytes bytes = encode_package(package);
  auto decoded = decode_package(bytes);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().to_string();
  EXPECT_EQ(encode_package(*decoded), bytes);
  EXPECT_EQ(decoded->manifest().app_id, "org.agency.notes");
  EXPECT_EQ(decoded->payload().size(), 4u);
  EXPECT_EQ(decoded->digest, compute_digest(package.content));
  // The file starts with the magic and the format version.
  EXPECT_TRUE(std::equal(kPackageMagic.begin(), kPackageMagic.end(), bytes.begin()));
  EXPECT_EQ(bytes[8], 0);
  EXPECT_EQ(bytes[9], 1);
}

TEST(Package, DigestIsSha256OfTheContentEncoding) {
  Package package = sample_package();
  Bytes file_bytes = encode_package(package);
  Bytes content = tls::encode(package.content);
  // The content is the file's prefix, and the digest follows it.
  ASSERT_GT(file_bytes.size(), content.size() + 32);
  EXPECT_TRUE(std::equal(content.begin(), content.end(), file_bytes.begin()));
  EXPECT_TRUE(std::equal(package.digest.begin(), package.digest.end(), file_bytes.begin() + content.size()));
}

TEST(Package, RejectsTrailingAndTruncatedInput) {
  Bytes bytes = encode_package(sample_package());
  Bytes longer = bytes;
  longer.push_back(0);
  EXPECT_FALSE(decode_package(longer).has_value());
  for (std::size_t size = 0; size < bytes.size(); ++size)
    EXPECT_FALSE(decode_package(BytesView(bytes).first(size)).has_value()) << size;
}

TEST(Package, RejectsMagicAndVersion) {
  Bytes bytes = encode_package(sample_package());
  Bytes bad = bytes;
  bad[0] = 'X';
  EXPECT_EQ(decode_package(bad).error(), errors::kBadMagic);
  Package package = sample_package();
  package.content.format_version = 2;
  EXPECT_EQ(decode_package(reencode(package)).error(), errors::kUnsupportedFormat);
}

TEST(Package, RejectsDigestMismatch) {
  Package package = sample_package();
  package.digest[5] ^= 1;
  EXPECT_EQ(decode_package(encode_package(package)).error(), errors::kDigestMismatch);
  package = sample_package();
  package.content.payload[1].content.push_back('x');  // payload changed, digest not
  EXPECT_EQ(decode_package(encode_package(package)).error(), errors::kDigestMismatch);
}

TEST(Package, RejectsUnknownEnumValues) {
  Package package = sample_package();
  package.content.payload[0].type = static_cast<EntryType>(9);
  EXPECT_FALSE(decode_package(reencode(package)).has_value());
  package = sample_package();
  package.content.manifest.category = static_cast<AppCategory>(0);
  EXPECT_FALSE(decode_package(reencode(package)).has_value());
  package = sample_package();
  package.content.manifest.permissions.capabilities.push_back(static_cast<Capability>(99));
  EXPECT_FALSE(decode_package(reencode(package)).has_value());
  // A signer algorithm other than Ed25519 (here ECDSA P-256's code point).
  package = sign_package(sample_package(), testing::new_key()).value();
  package.developer_signature->key.algorithm = static_cast<SignatureAlgorithm>(0x0403);
  EXPECT_FALSE(decode_package(encode_package(package)).has_value());
}

TEST(Package, RejectsBadLengthsOfKeysAndSignatures) {
  Package package = sign_package(sample_package(), testing::new_key()).value();
  Package shorter = package;
  shorter.developer_signature->signature.pop_back();
  EXPECT_FALSE(decode_package(encode_package(shorter)).has_value());
  Package longer_key = package;
  longer_key.developer_signature->key.public_key.push_back(0);
  EXPECT_FALSE(decode_package(encode_package(longer_key)).has_value());
}

TEST(PayloadPath, Rules) {
  for (const char* good : {"a", "bin/app", "a/b/c.d", "..a", "a..", ".hidden", "a/.b"})
    EXPECT_TRUE(validate_path(good).has_value()) << good;
  for (const char* bad : {"", "/abs", "/", "a/", "a//b", "..", "../x", "a/../b", "a/..", ".", "./a", "a/./b"})
    EXPECT_FALSE(validate_path(bad).has_value()) << bad;
  EXPECT_FALSE(validate_path(std::string_view("a\0b", 3)).has_value());
  EXPECT_FALSE(validate_path(std::string(256, 'a')).has_value());
  EXPECT_TRUE(validate_path(std::string(255, 'a')).has_value());
  std::string deep;
  for (int i = 0; i < 2100; ++i) deep += "a/";
  EXPECT_FALSE(validate_path(deep + "a").has_value());
}

TEST(Package, DecoderRejectsBadPayloads) {
  std::vector<std::pair<const char*, std::vector<Entry>>> cases = {
      {"dot-dot", {directory("bin"), file("bin/notes", "x", 0755), file("../etc/passwd", "x")}},
      {"dot-dot inside", {directory("bin"), file("bin/notes", "x", 0755), file("bin/../../x", "x")}},
      {"absolute", {directory("bin"), file("bin/notes", "x", 0755), file("/etc/passwd", "x")}},
      {"duplicate", {directory("bin"), file("bin/notes", "x", 0755), file("bin/notes", "y", 0755)}},
      {"unsorted", {file("bin/notes", "x", 0755), directory("bin")}},
      {"no parent", {file("bin/notes", "x", 0755)}},
      {"parent is a file", {file("bin", "x"), file("bin/notes", "x", 0755)}},
      {"under a symlink", {symlink("bin", "real"), file("bin/notes", "x", 0755)}},
      {"directory content", {Entry{"bin", EntryType::kDirectory, 0755, {1}}, file("bin/notes", "x", 0755)}},
      {"symlink mode", {directory("bin"), file("bin/notes", "x", 0755), Entry{"l", EntryType::kSymlink, 0755, {'a'}}}},
      {"empty symlink", {directory("bin"), file("bin/notes", "x", 0755), Entry{"l", EntryType::kSymlink, 0777, {}}}},
      {"symlink NUL", {directory("bin"), file("bin/notes", "x", 0755), Entry{"l", EntryType::kSymlink, 0777, {'a', 0}}}},
      {"device length", {directory("bin"), file("bin/notes", "x", 0755), Entry{"d", EntryType::kCharDevice, 0600, {1, 2}}}},
      {"fifo content", {directory("bin"), file("bin/notes", "x", 0755), Entry{"f", EntryType::kFifo, 0600, {1}}}},
      {"mode bits", {directory("bin"), file("bin/notes", "x", 0100755)}},
  };
  for (auto& [name, payload] : cases) {
    Package package;
    package.content.manifest = sample_manifest();
    package.content.payload = payload;
    EXPECT_FALSE(decode_package(reencode(package)).has_value()) << name;
    EXPECT_FALSE(make_package(sample_manifest(), payload).has_value() && std::string(name) != "unsorted") << name;
  }
  // make_package sorts; the decoder insists on sorted input.
  EXPECT_TRUE(make_package(sample_manifest(), {file("bin/notes", "x", 0755), directory("bin")}).has_value());
}

TEST(Package, DecoderRejectsBadManifests) {
  std::vector<std::function<void(Manifest&)>> breakages = {
      [](Manifest& m) { m.app_id = "notes"; },  // one label
      [](Manifest& m) { m.app_id = "Org.agency.notes"; },
      [](Manifest& m) { m.app_id = "org..notes"; },
      [](Manifest& m) { m.app_id = "org.agency.1notes"; },
      [](Manifest& m) { m.app_id = "org.agency/notes"; },
      [](Manifest& m) { m.version_code = 0; },
      [](Manifest& m) { m.version_name = ""; },
      [](Manifest& m) { m.version_name = "1.0\n"; },
      [](Manifest& m) { m.developer = std::string(129, 'a'); },
      [](Manifest& m) { m.entry_point = "/bin/sh"; },
      [](Manifest& m) { m.entry_point = "../bin/sh"; },
      [](Manifest& m) { m.permissions.network = {"*:443"}; },
      [](Manifest& m) { m.permissions.network = {"b.example:443", "a.example:443"}; },
      [](Manifest& m) { m.permissions.network = {"a.example:443", "a.example:443"}; },
      [](Manifest& m) { m.permissions.capabilities = {Capability::kFiles, Capability::kNotifications}; },
      [](Manifest& m) { m.permissions.capabilities = {Capability::kFiles, Capability::kFiles}; },
  };
  for (std::size_t i = 0; i < breakages.size(); ++i) {
    Package package = sample_package();
    breakages[i](package.content.manifest);
    EXPECT_FALSE(decode_package(reencode(package)).has_value()) << "breakage " << i;
  }
}

TEST(Package, CountersignatureOrRotationsNeedADeveloperSignature) {
  Package package = sample_package();
  package.countersignature = Countersignature{};
  EXPECT_EQ(decode_package(encode_package(package)).error(), errors::kCountersignatureWithoutSignature);
  package = sample_package();
  package.rotations.push_back(RotationStatement{});
  EXPECT_EQ(decode_package(encode_package(package)).error(), errors::kRotationWithoutSignature);
}

TEST(ManifestJson, ParsesSortsAndRefuses) {
  auto manifest = manifest_from_json(R"({"app_id": "org.agency.notes", "version_code": 7,
      "version_name": "1.4.2", "developer": "Agency Apps Team", "entry_point": "bin/notes",
      "category": "productivity",
      "permissions": {"network": ["api.agency.example:443"], "capabilities": ["notifications", "files"]}})");
  ASSERT_TRUE(manifest.has_value()) << manifest.error().to_string();
  EXPECT_EQ(tls::encode(*manifest), tls::encode(sample_manifest()));
  auto again = manifest_from_json(manifest_to_json(*manifest));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(tls::encode(*again), tls::encode(*manifest));

  for (const char* bad : {
           R"({"app_id": "org.a.b", "version_code": 1, "version_name": "1", "developer": "d", "entry_point": "x", "category": "utility", "permissions": {}, "extra": 1})",
           R"({"app_id": "org.a.b", "version_code": -1, "version_name": "1", "developer": "d", "entry_point": "x", "category": "utility", "permissions": {}})",
           R"({"app_id": "org.a.b", "version_code": 1, "version_name": "1", "developer": "d", "entry_point": "x", "category": "games", "permissions": {}})",
           R"({"app_id": "org.a.b", "version_code": 1, "version_name": "1", "developer": "d", "entry_point": "x", "category": "utility", "permissions": {"capabilities": ["files", "files"]}})",
           R"({"app_id": "org.a.b", "version_code": 1, "version_name": "1", "developer": "d", "entry_point": "x", "category": "utility", "permissions": {"capabilities": ["telepathy"]}})",
           R"({"app_id": "org.a.b", "version_code": 1, "version_name": "1", "developer": "d", "entry_point": "x", "category": "utility", "permissions": {"network": ["*:*"]}})",
           R"({"app_id": "org.a.b", "version_code": 1, "version_name": "1", "developer": "d", "entry_point": "x", "category": "utility"})",
           R"({"app_id": "org.a.b", "version_code": 1, "version_name": "1", "developer": "d", "entry_point": "x", "category": "utility", "permissions": {"sms": []}})",
           "[1, 2]", "{", ""}) {
    EXPECT_FALSE(manifest_from_json(bad).has_value()) << bad;
  }
}

TEST(PayloadFromDirectory, ReadsTheTreeWithoutFollowingLinks) {
  testing::TempDir dir;
  auto root = dir.path();
  std::filesystem::create_directories(root / "bin");
  std::ofstream(root / "bin" / "notes") << "#!/bin/sh\n";
  ::chmod((root / "bin" / "notes").c_str(), 0750);
  std::ofstream(root / "data.txt") << "hello";
  ::chmod((root / "data.txt").c_str(), 0640);
  std::filesystem::create_symlink("/etc/passwd", root / "passwd");
  ASSERT_EQ(::mkfifo((root / "pipe").c_str(), 0600), 0);

  auto payload = payload_from_directory(root);
  ASSERT_TRUE(payload.has_value()) << payload.error().to_string();
  ASSERT_EQ(payload->size(), 5u);
  EXPECT_EQ((*payload)[0].path, "bin");
  EXPECT_EQ((*payload)[0].type, EntryType::kDirectory);
  EXPECT_EQ((*payload)[1].path, "bin/notes");
  EXPECT_EQ((*payload)[1].mode, 0750u);
  EXPECT_EQ((*payload)[1].content, to_bytes("#!/bin/sh\n"));
  EXPECT_EQ((*payload)[2].path, "data.txt");
  EXPECT_EQ((*payload)[3].path, "passwd");
  EXPECT_EQ((*payload)[3].type, EntryType::kSymlink);
  EXPECT_EQ((*payload)[3].content, to_bytes("/etc/passwd"));  // recorded, not followed
  EXPECT_EQ((*payload)[4].type, EntryType::kFifo);

  // A socket cannot be packaged.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::string socket_path = (root / "sock").string();
  ASSERT_LT(socket_path.size(), sizeof address.sun_path);
  std::copy(socket_path.begin(), socket_path.end(), address.sun_path);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  EXPECT_FALSE(payload_from_directory(root).has_value());
  ::close(fd);
}

TEST(DeveloperSignature, SignsAndVerifies) {
  crypto::PrivateKey key = testing::new_key();
  auto package = sign_package(sample_package(), key);
  ASSERT_TRUE(package.has_value());
  EXPECT_TRUE(verify_developer_signature(*package).has_value());
  auto decoded = decode_package(encode_package(*package));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_TRUE(verify_developer_signature(*decoded).has_value());
  EXPECT_EQ(verify_developer_signature(sample_package()).error(), errors::kMissingDeveloperSignature);

  Package bad = *package;
  bad.developer_signature->signature[10] ^= 0x40;
  EXPECT_EQ(verify_developer_signature(bad).error(), errors::kBadDeveloperSignature);
  // The signature is over this package's digest only.
  Package other = sign_package(sample_package({file("extra", "x")}), key).value();
  bad = *package;
  bad.developer_signature = other.developer_signature;
  EXPECT_EQ(verify_developer_signature(bad).error(), errors::kBadDeveloperSignature);
}

TEST(SignerKey, IdIsSha256OfTheEncoding) {
  SignerKey key = signer_key_of(testing::new_key());
  Bytes encoding = tls::encode(key);
  ASSERT_EQ(encoding.size(), 2u + 1u + 32u);  // algorithm, varint length, key
  EXPECT_EQ(encoding[0], 0x08);
  EXPECT_EQ(encoding[1], 0x07);
  EXPECT_EQ(encoding[2], 32);
  KeyId id = key.id();
  SignerKey other = signer_key_of(testing::new_key());
  EXPECT_NE(id, other.id());
}

TEST(KeyFile, RoundTripAndStrictness) {
  crypto::PrivateKey key = testing::new_key();
  std::string private_text = format_private_key_file(key);
  auto parsed = parse_private_key_file(private_text);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(signer_key_of(*parsed), signer_key_of(key));
  std::string public_text = format_public_key_file(signer_key_of(key));
  auto public_key = parse_public_key_file(public_text);
  ASSERT_TRUE(public_key.has_value());
  EXPECT_EQ(*public_key, signer_key_of(key));

  std::string upper = public_text;
  for (std::size_t i = 27; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  for (const std::string& bad : {public_text.substr(0, public_text.size() - 1), public_text + "\n",
                                 "x" + public_text, upper, private_text}) {
    EXPECT_EQ(parse_public_key_file(bad).error(), errors::kBadKeyFile) << bad;
  }
  EXPECT_FALSE(parse_private_key_file(public_text).has_value());
}

}  // namespace
}  // namespace pmos::pkg

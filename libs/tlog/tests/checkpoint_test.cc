#include "pmos/tlog/checkpoint.h"

#include <gtest/gtest.h>

#include "pmos/tlog/note_keys.h"
#include "test_util.h"

namespace pmos::tlog {
namespace {

// The example of C2SP tlog-checkpoint v1.0.0.
constexpr std::string_view kExampleText =
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const std::string kExampleLogSignature =
    "\xe2\x80\x94 example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

TEST(Checkpoint, SpecExampleParses) {
  Checkpoint checkpoint = parse_checkpoint(kExampleText).value();
  EXPECT_EQ(checkpoint.origin, "example.com/behind-the-sofa");
  EXPECT_EQ(checkpoint.size, 20852163u);
  EXPECT_EQ(to_hex(checkpoint.root), "0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62");
  EXPECT_TRUE(checkpoint.extensions.empty());
  EXPECT_EQ(format_checkpoint(checkpoint).value(), kExampleText);
  // And as a note: the log signature is syntactically fine (key id
  // 033de0ae); its key is not published, so only parsing is checked.
  Note note = parse_note(std::string(kExampleText) + "\n" + kExampleLogSignature).value();
  ASSERT_EQ(note.signatures.size(), 1u);
  EXPECT_EQ(note.signatures[0].key_id, 0x033de0aeu);
  EXPECT_EQ(note.signatures[0].signature.size(), 64u);
}

TEST(Checkpoint, ExtensionLinesAreKept) {
  std::string text = std::string(kExampleText) + "ext one\nanother: line\n";
  Checkpoint checkpoint = parse_checkpoint(text).value();
  EXPECT_EQ(checkpoint.extensions, (std::vector<std::string>{"ext one", "another: line"}));
  EXPECT_EQ(format_checkpoint(checkpoint).value(), text);
}

TEST(Checkpoint, StrictParsingWithDistinctErrors) {
  const std::string root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
  const std::pair<std::string, const char*> cases[] = {
      {"origin\n5\n", "checkpoint: fewer than three lines"},
      {"origin\n", "checkpoint: fewer than three lines"},
      {"\n5\n" + root + "\n", "checkpoint: origin line is empty"},
      {"o\n05\n" + root + "\n", "checkpoint: tree size has a leading zero"},
      {"o\n00\n" + root + "\n", "checkpoint: tree size has a leading zero"},
      {"o\n+5\n" + root + "\n", "checkpoint: tree size is not a decimal number"},
      {"o\n-5\n" + root + "\n", "checkpoint: tree size is not a decimal number"},
      {"o\n 5\n" + root + "\n", "checkpoint: tree size is not a decimal number"},
      {"o\n5 \n" + root + "\n", "checkpoint: tree size is not a decimal number"},
      {"o\n0x5\n" + root + "\n", "checkpoint: tree size is not a decimal number"},
      {"o\n\n" + root + "\n", "checkpoint: tree size line is empty"},
      {"o\n18446744073709551616\n" + root + "\n", "checkpoint: tree size does not fit in 64 bits"},
      {"o\n5\n\n", "checkpoint: root hash line is empty"},
      {"o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxqw==\n", "checkpoint: root hash is not 32 bytes"},
      {"o\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n", "checkpoint: root hash is not valid base64"},
      {"o\n5\nCsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=\n", "checkpoint: root hash is not valid base64"},
      {"o\n5\n" + root + "\n\n", "checkpoint: empty extension line"},
      {"o\n5\n" + root + "\nx\n\ny\n", "checkpoint: empty extension line"},
      {"o\n5\n" + root, "note: text does not end with a newline"},
      {"o\r\n5\n" + root + "\n", "note: contains a control character"},
      {"", "note: text is empty"},
  };
  for (const auto& [text, message] : cases) {
    auto parsed = parse_checkpoint(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_STREQ(parsed.error().message(), message) << text;
  }
  EXPECT_EQ(parse_checkpoint("o\n0\n" + root + "\n").value().size, 0u);
  EXPECT_EQ(parse_checkpoint("o\n18446744073709551615\n" + root + "\n").value().size, ~std::uint64_t{0});
}

TEST(Checkpoint, FormatRefusesWhatParseWould) {
  Checkpoint checkpoint{"log.example", 3, leaf_hash(to_bytes("x")), {}};
  EXPECT_TRUE(format_checkpoint(checkpoint));
  checkpoint.origin = "";
  EXPECT_FALSE(format_checkpoint(checkpoint));
  checkpoint.origin = "a\nb";
  EXPECT_FALSE(format_checkpoint(checkpoint));
  checkpoint.origin = "log.example";
  checkpoint.extensions = {""};
  EXPECT_FALSE(format_checkpoint(checkpoint));
  checkpoint.extensions = {"two\nlines"};
  EXPECT_FALSE(format_checkpoint(checkpoint));
}

class SignedCheckpointTest : public ::testing::Test {
 protected:
  Ed25519NoteSigner log_ = Ed25519NoteSigner::generate("pmos.example/log").value();
  Ed25519NoteVerifier log_verifier_ = log_.verifier();
  Checkpoint checkpoint_{"pmos.example/log", 42, leaf_hash(to_bytes("root")), {}};
};

TEST_F(SignedCheckpointTest, SignAndOpen) {
  std::string note = sign_checkpoint(checkpoint_, log_).value();
  OpenedCheckpoint opened = open_checkpoint(note, "pmos.example/log", log_verifier_).value();
  EXPECT_EQ(opened.checkpoint, checkpoint_);
  EXPECT_EQ(opened.note.verified.size(), 1u);
}

TEST_F(SignedCheckpointTest, RefusesWrongOriginWrongKeyAndTampering) {
  std::string note = sign_checkpoint(checkpoint_, log_).value();
  EXPECT_STREQ(open_checkpoint(note, "pmos.example/other", log_verifier_).error().message(),
               "checkpoint: origin is not the expected log");
  Ed25519NoteSigner other = Ed25519NoteSigner::generate("pmos.example/log").value();
  Ed25519NoteVerifier other_verifier = other.verifier();
  EXPECT_STREQ(open_checkpoint(note, "pmos.example/log", other_verifier).error().message(),
               "checkpoint: not signed by the log key");
  std::string tampered = note;
  tampered.replace(tampered.find("\n42\n"), 4, "\n43\n");
  EXPECT_STREQ(open_checkpoint(tampered, "pmos.example/log", log_verifier_).error().message(),
               "note: a signature by a known key does not verify");
  // A signed note that is not a checkpoint.
  const NoteSigner* signers[] = {&log_};
  std::string not_checkpoint = sign_note(Note{"pmos.example/log\n42\n", {}}, signers).value();
  EXPECT_STREQ(open_checkpoint(not_checkpoint, "pmos.example/log", log_verifier_).error().message(),
               "checkpoint: fewer than three lines");
  // Other signatures are ignored, even after a missing one.
  std::string with_unknown = note + format_signature_line(NoteSignature{"someone.else", 7, Bytes(64, 1)});
  EXPECT_TRUE(open_checkpoint(with_unknown, "pmos.example/log", log_verifier_));
  EXPECT_FALSE(open_checkpoint(note.substr(0, note.size() - 1), "pmos.example/log", log_verifier_));
}

TEST_F(SignedCheckpointTest, ExtensionLinesAreSignedToo) {
  checkpoint_.extensions = {"extension"};
  std::string note = sign_checkpoint(checkpoint_, log_).value();
  EXPECT_EQ(open_checkpoint(note, "pmos.example/log", log_verifier_).value().checkpoint.extensions,
            (std::vector<std::string>{"extension"}));
  std::string tampered = note;
  tampered.replace(tampered.find("extension"), 9, "extensioN");
  EXPECT_FALSE(open_checkpoint(tampered, "pmos.example/log", log_verifier_));
}

}  // namespace
}  // namespace pmos::tlog

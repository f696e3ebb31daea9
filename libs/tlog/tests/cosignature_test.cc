#include "pmos/tlog/cosignature.h"

#include <gtest/gtest.h>

#include "pmos/crypto/signature.h"
#include "pmos/tlog/checkpoint.h"
#include "pmos/tlog/note_keys.h"

namespace pmos::tlog {
namespace {

// The example of C2SP tlog-cosignature v1.0.1.
constexpr std::string_view kExampleText =
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
const std::string kExampleNote =
    std::string(kExampleText) + "\n" +
    "\xe2\x80\x94 example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\xe2\x80\x94 witness.example.com/w1 "
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";

TEST(Cosignature, SpecExampleMessageAndTimestamp) {
  // The spec's signed-message example is at time 1679315147; the example
  // cosignature's first 8 bytes after the key id carry exactly that time.
  EXPECT_EQ(cosignature_message(kExampleText, 1679315147),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
  Note note = parse_note(kExampleNote).value();
  ASSERT_EQ(note.signatures.size(), 2u);
  const NoteSignature& w1 = note.signatures[1];
  EXPECT_EQ(w1.name, "witness.example.com/w1");
  EXPECT_EQ(w1.key_id, 0x8d66cf3fu);
  EXPECT_EQ(w1.signature.size(), kCosignatureSize);
  EXPECT_EQ(cosignature_timestamp(w1.signature).value(), 1679315147u);
}

TEST(Cosignature, TimestampBounds) {
  Bytes signature(kCosignatureSize, 0);
  signature[0] = 0x7f;
  for (int i = 1; i < 8; ++i) signature[i] = 0xff;
  EXPECT_EQ(cosignature_timestamp(signature).value(), kMaxCosignatureTimestamp);
  signature[0] = 0x80;
  for (int i = 1; i < 8; ++i) signature[i] = 0;
  EXPECT_STREQ(cosignature_timestamp(signature).error().message(), "cosignature: timestamp above 2^63 - 1");
  EXPECT_FALSE(cosignature_timestamp(Bytes(71)));
  EXPECT_FALSE(cosignature_timestamp(Bytes(73)));
}

class CosignatureTest : public ::testing::Test {
 protected:
  CosignatureSigner witness(std::string_view name) {
    return CosignatureSigner::generate(name, [this] { return now_; }).value();
  }
  std::string signed_checkpoint() { return sign_checkpoint(checkpoint_, log_).value(); }
  std::string cosigned(const std::string& note, const CosignatureSigner& w) {
    Note parsed = parse_note(note).value();
    const NoteSigner* signers[] = {&w};
    return sign_note(parsed, signers).value();
  }

  std::uint64_t now_ = 1700000000;
  Ed25519NoteSigner log_ = Ed25519NoteSigner::generate("pmos.example/log").value();
  Ed25519NoteVerifier log_verifier_ = log_.verifier();
  Checkpoint checkpoint_{"pmos.example/log", 1234, leaf_hash(to_bytes("r")), {}};
};

TEST_F(CosignatureTest, SignVerifyAndKeyIds) {
  CosignatureSigner w = witness("witness.example/w1");
  CosignatureVerifier v = w.verifier();
  std::string text = format_checkpoint(checkpoint_).value();
  Bytes signature = w.sign(text).value();
  ASSERT_EQ(signature.size(), kCosignatureSize);
  EXPECT_EQ(cosignature_timestamp(signature).value(), now_);
  EXPECT_TRUE(v.verify(text, signature));
  // The Ed25519 signature is over the cosignature/v1 message, not the text.
  EXPECT_TRUE(crypto::ed25519()
                  .verify(crypto::ed25519().public_key(v.public_key()).value(),
                          as_bytes(cosignature_message(text, now_)), BytesView(signature).subspan(8)));
  // The timestamp is signed: changing it breaks the signature.
  Bytes moved = signature;
  moved[7] ^= 1;
  EXPECT_FALSE(v.verify(text, moved));
  // Key id uses type 0x04, so it differs from the same key as a plain note key.
  EXPECT_EQ(v.key_id(), compute_key_id(v.name(), kSignatureTypeCosignatureV1, v.public_key()));
  EXPECT_NE(v.key_id(), compute_key_id(v.name(), kSignatureTypeEd25519, v.public_key()));
  // vkey round trip, and type checks both ways.
  EXPECT_EQ(CosignatureVerifier::from_vkey(v.vkey()).value().key_id(), v.key_id());
  EXPECT_EQ(CosignatureVerifier::from_vkey(log_verifier_.vkey()).error().category(), ErrorCategory::kUnsupported);
  EXPECT_EQ(Ed25519NoteVerifier::from_vkey(v.vkey()).error().category(), ErrorCategory::kUnsupported);
  // Witnesses cosign checkpoints only.
  EXPECT_FALSE(w.sign("just some text\n"));
  EXPECT_FALSE(w.sign_at(text, kMaxCosignatureTimestamp + 1));
  EXPECT_FALSE(v.verify(text, BytesView(signature).first(71)));
}

TEST_F(CosignatureTest, FromSeedIsDeterministic) {
  Bytes seed(32, 7);
  CosignatureSigner a = CosignatureSigner::from_seed("w", seed, [] { return std::uint64_t{5}; }).value();
  CosignatureSigner b = CosignatureSigner::from_seed("w", seed, [] { return std::uint64_t{5}; }).value();
  std::string text = format_checkpoint(checkpoint_).value();
  EXPECT_EQ(a.sign(text).value(), b.sign(text).value());
  EXPECT_EQ(a.key_id(), b.key_id());
  EXPECT_FALSE(CosignatureSigner::from_seed("w", Bytes(31), {}));
}

TEST_F(CosignatureTest, WitnessPolicyQuorum) {
  CosignatureSigner w1 = witness("w1.example");
  CosignatureSigner w2 = witness("w2.example");
  CosignatureSigner w3 = witness("w3.example");
  WitnessPolicy two_of_three = WitnessPolicy::create({w1.verifier(), w2.verifier(), w3.verifier()}, 2).value();

  std::string note = signed_checkpoint();
  std::string one = cosigned(note, w1);
  EXPECT_STREQ(open_witnessed_checkpoint(one, "pmos.example/log", log_verifier_, two_of_three).error().message(),
               "witness policy: fewer cosignatures than the quorum");
  std::string two = cosigned(one, w3);
  WitnessedCheckpoint ok = open_witnessed_checkpoint(two, "pmos.example/log", log_verifier_, two_of_three).value();
  EXPECT_EQ(ok.checkpoint, checkpoint_);
  ASSERT_EQ(ok.cosignatures.size(), 2u);
  EXPECT_EQ(ok.cosignatures[0].witness, "w1.example");
  EXPECT_EQ(ok.cosignatures[1].timestamp, now_);

  // The same witness twice (two timestamps) counts once.
  now_ += 10;
  Note again = parse_note(one).value();
  again.signatures.push_back(NoteSignature{"w1.example", w1.key_id(), w1.sign(again.text).value()});
  std::string twice = format_note(again).value();
  EXPECT_FALSE(open_witnessed_checkpoint(twice, "pmos.example/log", log_verifier_, two_of_three));

  // An unknown witness does not count and does not hurt.
  CosignatureSigner stranger = witness("stranger.example");
  EXPECT_FALSE(open_witnessed_checkpoint(cosigned(one, stranger), "pmos.example/log", log_verifier_, two_of_three));
  EXPECT_TRUE(open_witnessed_checkpoint(cosigned(two, stranger), "pmos.example/log", log_verifier_, two_of_three));

  // Cosignatures without the log's signature are not enough.
  Note witnesses_only = parse_note(two).value();
  witnesses_only.signatures.erase(witnesses_only.signatures.begin());
  EXPECT_STREQ(open_witnessed_checkpoint(format_note(witnesses_only).value(), "pmos.example/log", log_verifier_,
                                         two_of_three).error().message(),
               "checkpoint: not signed by the log key");

  // A failing cosignature by a known witness refuses the whole checkpoint.
  Note forged = parse_note(two).value();
  forged.signatures.back().signature[20] ^= 1;
  EXPECT_STREQ(open_witnessed_checkpoint(format_note(forged).value(), "pmos.example/log", log_verifier_,
                                         two_of_three).error().message(),
               "note: a signature by a known key does not verify");

  // A cosignature is bound to the checkpoint: moved onto another one it fails.
  Checkpoint other = checkpoint_;
  other.size += 1;
  Note moved = parse_note(two).value();
  moved.text = format_checkpoint(other).value();
  moved.signatures.erase(moved.signatures.begin());
  const NoteSigner* log_signers[] = {&log_};
  EXPECT_FALSE(open_witnessed_checkpoint(sign_note(moved, log_signers).value(), "pmos.example/log",
                                         log_verifier_, two_of_three));

  // Zero quorum: the log signature alone suffices.
  WitnessPolicy none = WitnessPolicy::create({w1.verifier()}, 0).value();
  EXPECT_TRUE(open_witnessed_checkpoint(note, "pmos.example/log", log_verifier_, none));
}

TEST_F(CosignatureTest, FutureTimestampsCanBeRefused) {
  CosignatureSigner w1 = witness("w1.example");
  WitnessPolicy policy = WitnessPolicy::create({w1.verifier()}, 1).value();
  std::string note = cosigned(signed_checkpoint(), w1);  // at now_
  EXPECT_TRUE(open_witnessed_checkpoint(note, "pmos.example/log", log_verifier_, policy, now_ - 600, 600));
  EXPECT_STREQ(open_witnessed_checkpoint(note, "pmos.example/log", log_verifier_, policy, now_ - 601, 600)
                   .error().message(),
               "cosignature: timestamp too far in the future");
  EXPECT_TRUE(open_witnessed_checkpoint(note, "pmos.example/log", log_verifier_, policy, now_ + 100000));
}

TEST_F(CosignatureTest, PolicyRefusesDuplicatesAndImpossibleQuorum) {
  CosignatureSigner w1 = witness("w1.example");
  CosignatureSigner w2 = witness("w2.example");
  EXPECT_FALSE(WitnessPolicy::create({w1.verifier()}, 2));
  EXPECT_STREQ(WitnessPolicy::create({w1.verifier(), w1.verifier()}, 1).error().message(),
               "witness policy: two witnesses share a key name and id");
  // One key under two names would count one witness twice.
  CosignatureVerifier alias = CosignatureVerifier::create("alias.example", w1.verifier().public_key()).value();
  EXPECT_STREQ(WitnessPolicy::create({w1.verifier(), alias}, 2).error().message(),
               "witness policy: two witnesses share a public key");
  EXPECT_TRUE(WitnessPolicy::create({w1.verifier(), w2.verifier()}, 2));
}

TEST_F(CosignatureTest, WitnessResponseBody) {
  // tlog-witness add-checkpoint answers with signature lines only.
  CosignatureSigner w1 = witness("w1.example");
  std::string text = format_checkpoint(checkpoint_).value();
  NoteSignature cosignature{std::string(w1.name()), w1.key_id(), w1.sign(text).value()};
  std::string body = format_signature_line(cosignature);
  std::vector<NoteSignature> parsed = parse_signature_lines(body).value();
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_TRUE(w1.verifier().verify(text, parsed[0].signature));
}

}  // namespace
}  // namespace pmos::tlog

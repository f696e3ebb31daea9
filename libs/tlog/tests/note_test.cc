#include "pmos/tlog/note.h"

#include <gtest/gtest.h>

#include "pmos/tlog/note_keys.h"

namespace pmos::tlog {
namespace {

// The example keys and notes of Go's golang.org/x/mod/sumdb/note (package
// documentation and note_test.go), the implementation signed-note was
// written down from. Ed25519 is deterministic, so signing must reproduce
// these bytes exactly.
constexpr std::string_view kPeterVkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr std::string_view kPeterSkey = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr std::string_view kEnochVkey = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
constexpr std::string_view kText =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
const std::string kPeterSig =
    "\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const std::string kEnochSig =
    "\xe2\x80\x94 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

// The example of C2SP signed-note v1.0.0 §"Verifier keys / Example".
constexpr std::string_view kFooVkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
const std::string kFooNote =
    "This is an example message.\n"
    "\n"
    "\xe2\x80\x94 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

std::string peter_note() { return std::string(kText) + "\n" + kPeterSig; }

Ed25519NoteVerifier peter() { return Ed25519NoteVerifier::from_vkey(kPeterVkey).value(); }
Ed25519NoteVerifier enoch() { return Ed25519NoteVerifier::from_vkey(kEnochVkey).value(); }

TEST(NoteKeys, GoExampleKeysParseAndRoundTrip) {
  Ed25519NoteVerifier v = peter();
  EXPECT_EQ(v.name(), "PeterNeumann");
  EXPECT_EQ(v.key_id(), 0xc74f20a3u);
  EXPECT_EQ(v.vkey(), kPeterVkey);
  Ed25519NoteSigner s = Ed25519NoteSigner::from_skey(kPeterSkey).value();
  EXPECT_EQ(s.key_id(), 0xc74f20a3u);
  EXPECT_EQ(as_string(s.skey().view()), kPeterSkey);
  EXPECT_EQ(s.verifier().vkey(), kPeterVkey);
  // The key id is SHA-256(name || 0x0A || 0x01 || key)[:4] (signed-note).
  EXPECT_EQ(compute_key_id("PeterNeumann", kSignatureTypeEd25519, v.public_key()), 0xc74f20a3u);
  EXPECT_EQ(Ed25519NoteVerifier::from_vkey(kFooVkey).value().key_id(), 0x530d903au);
}

TEST(NoteKeys, GoExampleSignatureIsReproducedExactly) {
  Ed25519NoteSigner s = Ed25519NoteSigner::from_skey(kPeterSkey).value();
  const NoteSigner* signers[] = {&s};
  EXPECT_EQ(sign_note(Note{std::string(kText), {}}, signers).value(), peter_note());
  // An existing signature by the same key is replaced, not duplicated.
  Note stale{std::string(kText), {NoteSignature{"PeterNeumann", 0xc74f20a3, Bytes{1, 2, 3}}}};
  EXPECT_EQ(sign_note(stale, signers).value(), peter_note());
  // Another key's signature is kept, before the new one.
  Note other{std::string(kText), {NoteSignature{"EnochRoot", 0xaf0cfe78, Bytes{1, 2, 3}}}};
  std::string signed_other = sign_note(other, signers).value();
  EXPECT_TRUE(signed_other.ends_with(kPeterSig));
  EXPECT_EQ(parse_note(signed_other).value().signatures.size(), 2u);
  EXPECT_FALSE(sign_note(Note{"abc", {}}, signers));  // text without newline
}

TEST(NoteKeys, MangledKeysAreRefused) {
  // As Go's TestNewVerifier/TestNewSigner: every proper substring and every
  // single-byte change of a valid key must be refused.
  for (std::string_view key : {kPeterVkey, kPeterSkey}) {
    bool is_skey = key.starts_with("PRIVATE");
    auto accepted = [&](std::string_view k) {
      return is_skey ? Ed25519NoteSigner::from_skey(k).has_value() : Ed25519NoteVerifier::from_vkey(k).has_value();
    };
    ASSERT_TRUE(accepted(key));
    for (std::size_t i = 0; i <= key.size(); ++i) {
      for (std::size_t j = i + 1; j <= key.size(); ++j) {
        if (i == 0 && j == key.size()) continue;
        EXPECT_FALSE(accepted(key.substr(i, j - i))) << key.substr(i, j - i);
      }
    }
    std::string b(key);
    for (std::size_t i = 0; i < b.size(); ++i) {
      ++b[i];
      EXPECT_FALSE(accepted(b)) << b;
      --b[i];
    }
  }
  // Wrong length key and unknown algorithm, each with a matching key id.
  EXPECT_FALSE(Ed25519NoteVerifier::from_vkey("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="));
  EXPECT_FALSE(Ed25519NoteVerifier::from_vkey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"));
  EXPECT_STREQ(Ed25519NoteVerifier::from_vkey("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
                   .error().message(),
               "key: key id does not match the name and key");
  EXPECT_STREQ(Ed25519NoteVerifier::from_vkey("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
                   .error().message(),
               "key: key id is not 8 lower-case hex digits");
}

TEST(NoteKeys, GeneratedKeysWork) {
  Ed25519NoteSigner s = Ed25519NoteSigner::generate("pmos.example/log").value();
  Ed25519NoteVerifier v = Ed25519NoteVerifier::from_vkey(s.verifier().vkey()).value();
  EXPECT_EQ(v.key_id(), s.key_id());
  Ed25519NoteSigner again = Ed25519NoteSigner::from_skey(as_string(s.skey().view())).value();
  const NoteSigner* signers[] = {&again};
  std::string note = sign_note(Note{"hello\n", {}}, signers).value();
  const NoteVerifier* verifiers[] = {&v};
  EXPECT_EQ(open_note(note, verifiers).value().text, "hello\n");
  EXPECT_FALSE(Ed25519NoteSigner::generate("bad name"));
  EXPECT_FALSE(Ed25519NoteSigner::generate("a+b"));
  EXPECT_FALSE(Ed25519NoteSigner::generate(""));
}

TEST(Note, C2spSpecExampleVerifies) {
  Ed25519NoteVerifier foo = Ed25519NoteVerifier::from_vkey(kFooVkey).value();
  const NoteVerifier* verifiers[] = {&foo};
  OpenedNote opened = open_note(kFooNote, verifiers).value();
  EXPECT_EQ(opened.text, "This is an example message.\n");
  ASSERT_EQ(opened.verified.size(), 1u);
  EXPECT_EQ(opened.verified[0].key_id, 0x530d903au);
}

TEST(Note, GoExampleOpens) {
  Ed25519NoteVerifier p = peter();
  Ed25519NoteVerifier e = enoch();
  std::string both = std::string(kText) + "\n" + kPeterSig + kEnochSig;
  {
    const NoteVerifier* verifiers[] = {&p};
    OpenedNote opened = open_note(both, verifiers).value();
    EXPECT_EQ(opened.text, kText);
    ASSERT_EQ(opened.verified.size(), 1u);
    EXPECT_EQ(opened.verified[0].name, "PeterNeumann");
    ASSERT_EQ(opened.unverified.size(), 1u);  // Enoch is unknown: ignored
    EXPECT_EQ(opened.unverified[0].key_id, 0xaf0cfe78u);
  }
  {
    const NoteVerifier* verifiers[] = {&e, &p};
    OpenedNote opened = open_note(both, verifiers).value();
    ASSERT_EQ(opened.verified.size(), 2u);
    EXPECT_EQ(opened.verified_by, (std::vector<std::size_t>{1, 0}));
    EXPECT_TRUE(opened.unverified.empty());
  }
  {
    auto none = open_note(both, {});
    ASSERT_FALSE(none);
    EXPECT_STREQ(none.error().message(), "note: no signature by a known key");
  }
  {
    // Duplicated lines count once.
    const NoteVerifier* verifiers[] = {&p};
    OpenedNote opened = open_note(std::string(kText) + "\n" + kPeterSig + kPeterSig + kEnochSig + kEnochSig,
                                  verifiers).value();
    EXPECT_EQ(opened.verified.size(), 1u);
    EXPECT_EQ(opened.unverified.size(), 1u);
  }
}

TEST(Note, BadSignaturesAreRefused) {
  Ed25519NoteVerifier p = peter();
  const NoteVerifier* verifiers[] = {&p};
  // Tampered text.
  std::string tampered = peter_note();
  tampered.replace(tampered.find("cryptography"), 12, "cryptographY");
  EXPECT_STREQ(open_note(tampered, verifiers).error().message(), "note: a signature by a known key does not verify");
  EXPECT_EQ(open_note(tampered, verifiers).error().category(), ErrorCategory::kCrypto);
  // Go's "invalid signature": four base64 characters spliced in.
  std::string spliced = std::string(kText) + "\n" + kPeterSig.substr(0, 60) + "ABCD" + kPeterSig.substr(60);
  EXPECT_STREQ(open_note(spliced, verifiers).error().message(), "note: a signature by a known key does not verify");
  // A bad signature from a known key refuses the note even beside a good one.
  EXPECT_FALSE(open_note(peter_note() + kPeterSig.substr(0, 60) + "ABCD" + kPeterSig.substr(60), verifiers));
  // Same name, other key id: not our key, so ignored, so nothing verified.
  Ed25519NoteSigner s = Ed25519NoteSigner::from_skey(kPeterSkey).value();
  Note wrong_id{std::string(kText), {NoteSignature{"PeterNeumann", 0xc74f20a4, s.sign(kText).value()}}};
  EXPECT_STREQ(open_note(format_note(wrong_id).value(), verifiers).error().message(),
               "note: no signature by a known key");
  // Same id, other name: likewise.
  Note wrong_name{std::string(kText), {NoteSignature{"PeterNeuman", 0xc74f20a3, s.sign(kText).value()}}};
  EXPECT_STREQ(open_note(format_note(wrong_name).value(), verifiers).error().message(),
               "note: no signature by a known key");
  // Two verifiers for one (name, id).
  const NoteVerifier* twice[] = {&p, &p};
  EXPECT_EQ(open_note(peter_note(), twice).error().category(), ErrorCategory::kInvalidArgument);
}

TEST(Note, MalformedNotesAreRefusedWithDistinctErrors) {
  const std::string text(kText);
  // Go's badMsgs, plus ours; each with the message that says why.
  const std::pair<std::string, const char*> cases[] = {
      {text, "note: no blank line before the signatures"},
      {text + "\n", "note: no signature lines"},
      {text + "\n" + kPeterSig.substr(0, kPeterSig.size() - 1), "note: does not end with a newline"},
      {"\x01" + text + "\n" + kPeterSig, "note: contains a control character"},
      {"\xff" + text + "\n" + kPeterSig, "note: not valid UTF-8"},
      {text + "\n" + "\xe2\x80\x94 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
       "note: signature is not valid base64"},
      {text + "\n" + kPeterSig + "Unexpected line.\n", "note: signature line does not start with an em dash and a space"},
      {text + "\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
       "note: signature line does not start with an em dash and a space"},
      {text + "\n\xe2\x80\x94 PeterNeumann\n", "note: signature line has no signature after the key name"},
      {text + "\n\xe2\x80\x94  x08go/ZJ\n", "note: signature line has an invalid key name"},
      {text + "\n\xe2\x80\x94 a+b x08go/ZJ\n", "note: signature line has an invalid key name"},
      {text + "\n\xe2\x80\x94 a\xc2\xa0\x62 x08go/ZJ\n", "note: signature line has an invalid key name"},  // NBSP
      {text + "\n\xe2\x80\x94 PeterNeumann x08g\n", "note: signature is not longer than a key id"},
      {text + "\n\xe2\x80\x94 PeterNeumann x08go/Z=\n", "note: signature is not valid base64"},
      {text + "\n\xe2\x80\x94 PeterNeumann x08go/Z\n", "note: signature is not valid base64"},
      {text + "\r\n" + kPeterSig, "note: contains a control character"},
      {"a\tb\n\n" + kPeterSig, "note: contains a control character"},
      {"\xed\xa0\x80\n\n" + kPeterSig, "note: not valid UTF-8"},  // a surrogate
      {"\xc0\xaf\n\n" + kPeterSig, "note: not valid UTF-8"},      // overlong '/'
      {"", "note: does not end with a newline"},
  };
  Ed25519NoteVerifier p = peter();
  const NoteVerifier* verifiers[] = {&p};
  for (const auto& [note, message] : cases) {
    auto parsed = parse_note(note);
    ASSERT_FALSE(parsed) << note;
    EXPECT_STREQ(parsed.error().message(), message) << note;
    EXPECT_EQ(parsed.error().category(), ErrorCategory::kDecode);
    EXPECT_FALSE(open_note(note, verifiers)) << note;
  }
}

TEST(Note, TextMayHoldBlankLinesAndEndsAtTheLastOne) {
  // signed-note: "the text is separated from the signatures by the last
  // empty line in the note".
  Ed25519NoteSigner s = Ed25519NoteSigner::from_skey(kPeterSkey).value();
  const NoteSigner* signers[] = {&s};
  for (std::string text : {"a\n\nb\n", "a\n\n", "\n", "\n\n", "x\n\n\n"}) {
    std::string note = sign_note(Note{text, {}}, signers).value();
    Ed25519NoteVerifier p = peter();
    const NoteVerifier* verifiers[] = {&p};
    EXPECT_EQ(open_note(note, verifiers).value().text, text);
  }
  // Unicode is fine in the text (the spec's own example is Italian).
  EXPECT_TRUE(parse_note("ed \xc3\xa8 subito sera.\n\n" + kPeterSig));
  EXPECT_TRUE(parse_note("del \x7f is not below U+0020\n\n" + kPeterSig));
}

TEST(Note, SizeAndSignatureCountLimits) {
  const std::string text(kText);
  Ed25519NoteVerifier p = peter();
  const NoteVerifier* verifiers[] = {&p};
  std::string sigs;
  for (int i = 0; i < 100; ++i) sigs += kPeterSig;
  EXPECT_TRUE(open_note(text + "\n" + sigs, verifiers));
  EXPECT_STREQ(parse_note(text + "\n" + sigs + kPeterSig).error().message(),
               "note: more signatures than the limit of 100");
  // The spec's floor: at least 16 signatures of post-quantum size (~5 kB).
  std::string big_sigs;
  for (int i = 0; i < 16; ++i) {
    big_sigs += format_signature_line(NoteSignature{"pq" + std::to_string(i), 1, Bytes(4800, 0x5a)});
  }
  EXPECT_EQ(parse_note(text + "\n" + big_sigs).value().signatures.size(), 16u);
  std::string huge(kMaxNoteSize, 'a');
  huge.replace(huge.size() - 1, 1, "\n");
  EXPECT_STREQ(parse_note(huge + "\n" + kPeterSig).error().message(), "note: longer than the 1 MiB limit");
  EXPECT_STREQ(check_note_text(huge + "a\n").error().message(), "note: longer than the 1 MiB limit");
  EXPECT_FALSE(format_note(Note{huge, {NoteSignature{"a", 1, Bytes{1}}}}));
}

TEST(Note, FormatParseRoundTrip) {
  Note note{"line one\n\nline three\n",
            {NoteSignature{"a.example/x", 0x01020304, Bytes{9, 8, 7}},
             NoteSignature{"b", 0xffffffff, Bytes(64, 1)}}};
  std::string text = format_note(note).value();
  Note parsed = parse_note(text).value();
  EXPECT_EQ(parsed.text, note.text);
  EXPECT_EQ(parsed.signatures, note.signatures);
  EXPECT_FALSE(format_note(Note{"no newline", note.signatures}));
  EXPECT_FALSE(format_note(Note{"x\n", {}}));
  EXPECT_FALSE(format_note(Note{"x\n", {NoteSignature{"bad name", 1, Bytes{1}}}}));
  EXPECT_FALSE(format_note(Note{"x\n", {NoteSignature{"a", 1, Bytes{}}}}));
  // Signature lines alone (a witness response body).
  std::string lines = format_signature_line(note.signatures[0]) + format_signature_line(note.signatures[1]);
  EXPECT_EQ(parse_signature_lines(lines).value(), note.signatures);
  EXPECT_FALSE(parse_signature_lines(""));
  EXPECT_FALSE(parse_signature_lines(lines + "\n"));
}

TEST(Note, KeyNames) {
  EXPECT_TRUE(is_valid_key_name("example.com/log42"));
  EXPECT_TRUE(is_valid_key_name("r\xc3\xb6m"));
  for (const char* bad : {"", "a b", "a+b", "a\tb", "a\nb", "a\xe2\x80\x83" "b", "a\xe3\x80\x80" "b", "\xff"}) {
    EXPECT_FALSE(is_valid_key_name(bad)) << bad;
  }
}

}  // namespace
}  // namespace pmos::tlog

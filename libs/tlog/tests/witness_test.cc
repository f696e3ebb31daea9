// The tlog-witness v1.0.0 add-checkpoint wire format.
#include <gtest/gtest.h>

#include "pmos/tlog/witness.h"

namespace pmos::tlog {
namespace {

constexpr std::string_view kSpecExample =
    "old 20852014\n"
    "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
    "jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
    "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n"
    "/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n"
    "\n"
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "\xE2\x80\x94 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/"
    "Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

TEST(WitnessRequestTest, ParsesTheSpecExampleAndFormatsItBack) {
  auto request = parse_add_checkpoint_request(kSpecExample);
  ASSERT_TRUE(request.has_value()) << request.error().to_string();
  EXPECT_EQ(request->old_size, 20852014u);
  ASSERT_EQ(request->proof.size(), 4u);
  EXPECT_EQ(request->proof[0][0], 0x3e);  // 'P' 'l' -> 0x3e 0x54
  EXPECT_TRUE(request->checkpoint.starts_with("example.com/behind-the-sofa\n20852163\n"));
  auto text = format_add_checkpoint_request(*request);
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(*text, kSpecExample);
}

TEST(WitnessRequestTest, EmptyProofAndOldZero) {
  AddCheckpointRequest request{0, {}, "o\n0\nx\n\n\xE2\x80\x94 k AAAAAAA=\n"};
  auto text = format_add_checkpoint_request(request);
  ASSERT_TRUE(text.has_value());
  EXPECT_TRUE(text->starts_with("old 0\n\no\n"));
  auto parsed = parse_add_checkpoint_request(*text);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(*parsed, request);
}

TEST(WitnessRequestTest, RefusesMalformedRequests) {
  const std::string checkpoint = "o\n1\nx\n";
  const std::string hash = "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n";
  for (const std::string& bad : {
           std::string(""),
           std::string("old 1"),                        // no newline at all
           "old 01\n\n" + checkpoint,                   // leading zero
           "old -1\n\n" + checkpoint,                   // sign
           "old  1\n\n" + checkpoint,                   // two spaces
           "Old 1\n\n" + checkpoint,                    // case
           "old 18446744073709551616\n\n" + checkpoint, // 2^64
           "old 1\n" + checkpoint,                      // no blank line: "o" is not base64 of 32 bytes
           "old 1\n" + hash,                            // proof but no blank line
           "old 1\n" + hash + "\n",                     // no checkpoint
           "old 1\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpka=\n\n" + checkpoint,  // 31 bytes
           "old 1\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkax=\n\n" + checkpoint, // non-canonical
           "old 1\r\n\n" + checkpoint,
       }) {
    EXPECT_FALSE(parse_add_checkpoint_request(bad).has_value()) << bad;
  }
}

TEST(WitnessRequestTest, SixtyThreeProofLinesAtMost) {
  AddCheckpointRequest request{5, std::vector<Hash>(63, Hash{}), "o\n9\nx\n"};
  auto text = format_add_checkpoint_request(request);
  ASSERT_TRUE(text.has_value());
  EXPECT_TRUE(parse_add_checkpoint_request(*text).has_value());
  request.proof.push_back(Hash{});
  EXPECT_FALSE(format_add_checkpoint_request(request).has_value());
  std::string too_many = "old 5\n";
  for (int i = 0; i < 64; ++i) too_many += "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
  too_many += "\no\n9\nx\n";
  auto refused = parse_add_checkpoint_request(too_many);
  ASSERT_FALSE(refused.has_value());
  EXPECT_NE(std::string(refused.error().message()).find("63"), std::string::npos);
}

TEST(WitnessRequestTest, SizeBody) {
  EXPECT_EQ(format_witness_size(42), "42\n");
  EXPECT_EQ(parse_witness_size("42\n").value(), 42u);
  EXPECT_EQ(parse_witness_size("0\n").value(), 0u);
  for (std::string_view bad : {"42", "042\n", "\n", "4 2\n", "42\n\n", "-1\n"})
    EXPECT_FALSE(parse_witness_size(bad).has_value()) << bad;
}

}  // namespace
}  // namespace pmos::tlog

// Drives the real pmos-mls binary through a group's life: three members,
// messages both ways, a removal, and refusals — each step a separate process
// reading and writing state files, as a script or another MLS stack would.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "pmos/base/file.h"

namespace pmos {
namespace {

class PmosMlsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/pmos-mls-cli-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    if (!HasFailure()) std::filesystem::remove_all(dir_);
    else std::fprintf(stderr, "kept %s\n", dir_.c_str());
  }

  // Runs `pmos-mls ARGS` in the test directory; returns the exit status.
  int run(const std::string& args) {
    std::string command = "cd " + dir_ + " && " PMOS_MLS_BINARY " " + args + " 2>>" + dir_ + "/stderr";
    int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string file(const std::string& name) {
    auto bytes = read_file(dir_ + "/" + name);
    return bytes ? std::string(as_string(*bytes)) : std::string("<missing>");
  }
  std::string dir_;
};

TEST_F(PmosMlsCli, ThreeMembersTalkAndOneIsRemoved) {
  for (std::string who : {"alice", "bob", "carol"})
    ASSERT_EQ(run("key-package --identity " + who + " --bundle " + who + ".bundle --out " + who + ".kp"), 0) << file("stderr");
  ASSERT_EQ(run("create --bundle alice.bundle --group-id unit7 --state alice.state"), 0) << file("stderr");
  ASSERT_EQ(run("commit --state alice.state --add bob.kp --add carol.kp --out c1 --welcome w1"), 0) << file("stderr");
  ASSERT_EQ(run("join --bundle bob.bundle --welcome w1 --state bob.state"), 0) << file("stderr");
  ASSERT_EQ(run("join --bundle carol.bundle --welcome w1 --state carol.state"), 0) << file("stderr");
  ASSERT_EQ(run("info --state alice.state > alice.info"), 0);
  ASSERT_EQ(run("info --state carol.state > carol.info"), 0);
  EXPECT_NE(file("alice.info").find("members\t3"), std::string::npos) << file("alice.info");
  // Same epoch authenticator line in both.
  auto authenticator = [](const std::string& info) { return info.substr(info.find("epoch_authenticator")); };
  EXPECT_EQ(authenticator(file("alice.info")), authenticator(file("carol.info")));

  ASSERT_TRUE(write_file_atomic(dir_ + "/plain", to_bytes("unit 7 to the bridge")).has_value());
  ASSERT_EQ(run("protect --state bob.state < plain > m1"), 0) << file("stderr");
  ASSERT_EQ(run("unprotect --state alice.state < m1 > m1.alice"), 0) << file("stderr");
  ASSERT_EQ(run("unprotect --state carol.state < m1 > m1.carol"), 0) << file("stderr");
  EXPECT_EQ(file("m1.alice"), "unit 7 to the bridge");
  EXPECT_EQ(file("m1.alice"), file("m1.carol"));
  // A replay is refused.
  EXPECT_NE(run("unprotect --state carol.state < m1 > /dev/null"), 0);

  // Carol removes Bob (leaf 1) with an encrypted commit.
  ASSERT_EQ(run("commit --state carol.state --remove 1 --encrypt --out c2"), 0) << file("stderr");
  ASSERT_EQ(run("handle --state alice.state --in c2"), 0) << file("stderr");
  EXPECT_NE(run("handle --state bob.state --in c2"), 0);
  EXPECT_NE(file("stderr").find("removed from the group"), std::string::npos);
  ASSERT_EQ(run("roster --state alice.state > roster"), 0);
  EXPECT_EQ(file("roster").find("bob"), std::string::npos) << file("roster");
  ASSERT_EQ(run("export --state alice.state --label test --length 16 > e.alice"), 0);
  ASSERT_EQ(run("export --state carol.state --label test --length 16 > e.carol"), 0);
  EXPECT_EQ(file("e.alice"), file("e.carol"));
  EXPECT_EQ(file("e.alice").size(), 33u);
}

TEST_F(PmosMlsCli, UpdateThenReInitIntoAnotherSuite) {
  for (std::string who : {"alice", "bob"})
    ASSERT_EQ(run("key-package --identity " + who + " --bundle " + who + ".bundle --out " + who + ".kp"), 0) << file("stderr");
  ASSERT_EQ(run("create --bundle alice.bundle --group-id g1 --state alice.state"), 0) << file("stderr");
  ASSERT_EQ(run("commit --state alice.state --add bob.kp --out c1 --welcome w1"), 0) << file("stderr");
  ASSERT_EQ(run("join --bundle bob.bundle --welcome w1 --state bob.state"), 0) << file("stderr");
  // Bob proposes a fresh leaf key; Alice commits it.
  ASSERT_EQ(run("propose-update --state bob.state --out u1"), 0) << file("stderr");
  ASSERT_EQ(run("handle --state alice.state --in u1"), 0) << file("stderr");
  ASSERT_EQ(run("commit --state alice.state --out c2"), 0) << file("stderr");
  ASSERT_EQ(run("handle --state bob.state --in c2"), 0) << file("stderr");
  // Alice ends the group with a ReInit into suite 3 and starts the new one.
  ASSERT_EQ(run("commit --state alice.state --reinit-group-id g2 --reinit-suite 3 --out c3"), 0) << file("stderr");
  ASSERT_EQ(run("handle --state bob.state --in c3"), 0) << file("stderr");
  ASSERT_EQ(run("info --state bob.state > bob.info"), 0);
  EXPECT_NE(file("bob.info").find("ended_by_reinit\tg2 0x0003"), std::string::npos) << file("bob.info");
  EXPECT_NE(run("protect --state bob.state < bob.info > /dev/null"), 0);
  for (std::string who : {"alice", "bob"})
    ASSERT_EQ(run("key-package --suite 3 --identity " + who + " --bundle " + who + "2.bundle --out " + who + "2.kp"), 0);
  ASSERT_EQ(run("reinit --state alice.state --bundle alice2.bundle --add bob2.kp --new-state alice2.state --welcome w2"), 0)
      << file("stderr");
  ASSERT_EQ(run("join-resumed --old-state bob.state --bundle bob2.bundle --welcome w2 --state bob2.state"), 0)
      << file("stderr");
  ASSERT_EQ(run("info --state alice2.state > alice2.info"), 0);
  ASSERT_EQ(run("info --state bob2.state > bob2.info"), 0);
  auto authenticator = [](const std::string& info) { return info.substr(info.find("epoch_authenticator")); };
  EXPECT_EQ(authenticator(file("alice2.info")), authenticator(file("bob2.info")));
  EXPECT_NE(file("bob2.info").find("suite\t0x0003"), std::string::npos) << file("bob2.info");
  // Only the old group's state holds the resumption PSK the Welcome needs.
  EXPECT_NE(run("join-resumed --old-state alice2.state --bundle bob2.bundle --welcome w2 --state x.state"), 0);
}

// --suite takes the policy names of issue 9 as well as numbers.
TEST_F(PmosMlsCli, SuiteByPolicyName) {
  ASSERT_EQ(run("key-package --suite national --identity a --bundle a.bundle --out a.kp"), 0) << file("stderr");
  ASSERT_EQ(run("key-package --suite 0xF0A1 --identity b --bundle b.bundle --out b.kp"), 0) << file("stderr");
  ASSERT_EQ(run("create --bundle a.bundle --group-id national --state a.state"), 0) << file("stderr");
  ASSERT_EQ(run("commit --state a.state --add b.kp --out c1 --welcome w1"), 0) << file("stderr");
  ASSERT_EQ(run("join --bundle b.bundle --welcome w1 --state b.state"), 0) << file("stderr");
  ASSERT_EQ(run("info --state b.state > b.info"), 0);
  EXPECT_NE(file("b.info").find("suite\t0xf0a1"), std::string::npos) << file("b.info");
  ASSERT_EQ(run("key-package --suite international --identity c --bundle c.bundle --out c.kp"), 0) << file("stderr");
  ASSERT_EQ(run("create --bundle c.bundle --group-id intl --state c.state"), 0) << file("stderr");
  ASSERT_EQ(run("info --state c.state > c.info"), 0);
  EXPECT_NE(file("c.info").find("suite\t0x0001"), std::string::npos) << file("c.info");
  // An international key package cannot join the national group.
  EXPECT_NE(run("commit --state a.state --add c.kp --out c2 --welcome w2"), 0);
  for (const char* bad : {"sm", "National", "0xF0A2", "1x", "70000"}) {
    EXPECT_NE(run(std::string("key-package --suite ") + bad + " --identity d --bundle d.bundle --out d.kp"), 0) << bad;
  }
  EXPECT_NE(file("stderr").find("--suite wants national, international or a cipher suite number"), std::string::npos)
      << file("stderr");
}

TEST_F(PmosMlsCli, BadInputIsAClearErrorAndLosesNothing) {
  ASSERT_EQ(run("key-package --identity a --bundle a.bundle --out a.kp"), 0);
  ASSERT_EQ(run("create --bundle a.bundle --group-id g --state a.state"), 0);
  std::string before = file("a.state");
  ASSERT_TRUE(write_file_atomic(dir_ + "/garbage", to_bytes("not mls")).has_value());
  EXPECT_NE(run("handle --state a.state --in garbage"), 0);
  EXPECT_NE(file("stderr").find("is not an MLSMessage"), std::string::npos) << file("stderr");
  EXPECT_EQ(file("a.state"), before);
  EXPECT_NE(run("frobnicate"), 0);
  EXPECT_NE(run("create --bundle a.bundle"), 0);
  EXPECT_NE(file("stderr").find("missing --group-id"), std::string::npos);
  EXPECT_EQ(run("--help > help"), 0);
  EXPECT_NE(file("help").find("usage: pmos-mls"), std::string::npos);
}

}  // namespace
}  // namespace pmos

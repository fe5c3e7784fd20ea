#include "client/ctl/ctl_runner.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/strings.h"
#include "tests/unit/client/fake_broker_server.h"

namespace gssgate::client {
namespace {

using gssgate::testing::FakeBrokerServer;

struct CtlRun {
  int code = -1;
  std::string out;
  std::string err;
};

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class CtlRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.started()); }
  void TearDown() override {
    for (const std::string& f : cleanup_) ::unlink(f.c_str());
    for (const std::string& d : cleanup_dirs_) ::rmdir(d.c_str());
  }

  static CtlRun run(const std::vector<std::string>& args, const std::string& stdin_text = "",
                    const char* env_handle = nullptr) {
    CtlRun r;
    auto opts = parseCtlArgs(args, env_handle);
    if (!opts.ok()) {
      r.code = kCtlExitUsage;
      r.err = ctlErrorLine(messageOf(opts.status())) + "\n";
      return r;
    }
    std::istringstream in(stdin_text);
    std::ostringstream out;
    std::ostringstream err;
    r.code = runCtl(*opts, in, out, err);
    r.out = out.str();
    r.err = err.str();
    return r;
  }

  std::string file(const std::string& name) {
    std::string path = server_.dir() + "/" + name;
    cleanup_.push_back(path);
    return path;
  }

  FakeBrokerServer server_;
  std::vector<std::string> cleanup_;
  std::vector<std::string> cleanup_dirs_;
};

TEST_F(CtlRunnerTest, CredentialWritesA0600FileAndPrintsKrb5ccname) {
  const std::string out = file("cc");
  const CtlRun r =
      run({"credential", "--broker", server_.address(), "--handle", FakeBrokerServer::kGoodHandle,
           "--service", FakeBrokerServer::kService, "--out", out});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "KRB5CCNAME=FILE:" + out + "\n");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(readFile(out), std::string("CCACHE-BYTES\x05\x04"));
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777U, 0600U);
}

TEST_F(CtlRunnerTest, CredentialDefaultsToAPrivateTempFile) {
  const CtlRun r = run({"credential", "--broker", server_.address(), "--handle",
                        FakeBrokerServer::kGoodHandle, "--service", FakeBrokerServer::kService});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(r.out.starts_with("KRB5CCNAME=FILE:/")) << r.out;
  ASSERT_TRUE(r.out.ends_with("\n"));
  const std::string path = r.out.substr(16, r.out.size() - 17);
  cleanup_.push_back(path);
  const std::string dir = path.substr(0, path.rfind('/'));
  cleanup_dirs_.push_back(dir);
  EXPECT_EQ(readFile(path), std::string("CCACHE-BYTES\x05\x04"));
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777U, 0700U);
}

TEST_F(CtlRunnerTest, CredentialRefusesAnExistingOutFileBeforeAskingTheBroker) {
  const std::string out = file("existing");
  std::ofstream(out) << "keep me";
  const CtlRun r =
      run({"credential", "--broker", server_.address(), "--handle", FakeBrokerServer::kGoodHandle,
           "--service", FakeBrokerServer::kService, "--out", out});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "gssgatectl: " + out + " already exists; refusing to overwrite it\n");
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(server_.redeemCalls(), 0);
  EXPECT_EQ(readFile(out), "keep me");
}

TEST_F(CtlRunnerTest, NotFoundIsOneLine) {
  const CtlRun r = run({"credential", "--broker", server_.address(), "--handle", "expired-one",
                        "--service", FakeBrokerServer::kService});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "gssgatectl: handle not found or expired\n");
  EXPECT_EQ(r.out, "");
}

TEST_F(CtlRunnerTest, NotAllowedUsesTheBrokersMessage) {
  const CtlRun r = run({"credential", "--broker", server_.address(), "--handle",
                        FakeBrokerServer::kGoodHandle, "--service", "postgres/x"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "gssgatectl: not allowed: service postgres/x is not granted to uid 1000 by the "
            "broker's policy\n");
}

TEST_F(CtlRunnerTest, UnreachableBroker) {
  const std::string address = "unix:" + server_.dir() + "/x.sock";
  const CtlRun r = run({"credential", "--broker", address, "--handle", "h", "--service", "s"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err,
            "gssgatectl: broker unreachable at " + address + " (No such file or directory)\n");
}

TEST_F(CtlRunnerTest, UsageErrorsExit2) {
  const CtlRun r = run({"credential", "--broker", server_.address(), "--handle", "h"});
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(r.err.starts_with("gssgatectl: --service SERVICE is required")) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
}

TEST_F(CtlRunnerTest, HandleFromAFileOrStdinOrTheEnvironment) {
  const std::string handle_file = file("handle");
  std::ofstream(handle_file) << "  " << FakeBrokerServer::kGoodHandle << "\n";
  CtlRun r = run({"revoke", "--broker", server_.address(), "--handle-file", handle_file});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server_.lastHandle(), FakeBrokerServer::kGoodHandle);

  r = run({"revoke", "--broker", server_.address(), "--handle-file", "-"}, "from-stdin\n");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server_.lastHandle(), "from-stdin");

  r = run({"revoke", "--broker", server_.address()}, "", "from-env");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server_.lastHandle(), "from-env");
}

TEST_F(CtlRunnerTest, BadHandleFiles) {
  CtlRun r = run({"revoke", "--broker", server_.address(), "--handle-file", file("missing")});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("cannot read handle file"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << r.err;

  const std::string empty = file("empty");
  std::ofstream(empty) << "\n\n";
  r = run({"revoke", "--broker", server_.address(), "--handle-file", empty});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "gssgatectl: no handle in " + empty + "\n");

  r = run({"revoke", "--broker", server_.address(), "--handle-file", "-"}, std::string(70000, 'h'));
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "gssgatectl: handle in standard input is too long\n");
}

TEST_F(CtlRunnerTest, ListPrintsATable) {
  const CtlRun r = run({"list", "--broker", server_.address()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "ID       PRINCIPAL   DEPOSITED             EXPIRES               REDEMPTIONS\n"
            "cred-a   alice@TEST  2023-11-14T22:13:20Z  2023-11-15T08:13:20Z  3\n"
            "cred-bb  bob?@TEST   2023-11-14T22:15:00Z  2023-11-15T08:15:00Z  0\n");
}

TEST_F(CtlRunnerTest, RevokeCredentialById) {
  CtlRun r = run({"revoke-credential", "--broker", server_.address(), "--id", "cred-a"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(server_.lastCredentialId(), "cred-a");
  r = run({"revoke-credential", "--broker", server_.address(), "--id", "nope"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err, "gssgatectl: no stored credential with that id\n");
}

TEST_F(CtlRunnerTest, Health) {
  CtlRun r = run({"health", "--broker", server_.address()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "SERVING\n");
  server_.setServing(false);
  r = run({"health", "--broker", server_.address()});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.out, "NOT_SERVING\n");
  EXPECT_EQ(r.err, "gssgatectl: broker at " + server_.address() + " is NOT_SERVING\n");
}

TEST_F(CtlRunnerTest, HelpAndVersion) {
  CtlRun r = run({"--version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, std::string("gssgatectl ") + GSSGATE_VERSION + "\n");
  r = run({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(r.out.starts_with("usage: gssgatectl")) << r.out;
}

TEST(CtlErrorLineTest, IsOnePrintableLine) {
  EXPECT_EQ(ctlErrorLine("a\nb\r\tc\n"), "gssgatectl: a b  c");
}

}  // namespace
}  // namespace gssgate::client

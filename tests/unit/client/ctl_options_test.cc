#include "client/ctl/ctl_options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/strings.h"

namespace gssgate::client {
namespace {

using Args = std::vector<std::string>;
constexpr const char* kBroker = "unix:/run/gssgate/broker.sock";

absl::StatusOr<CtlOptions> parse(const Args& args, const char* env = nullptr) {
  return parseCtlArgs(args, env);
}

// The usage error's message for `args`, or "" if they parse.
std::string errorOf(const Args& args, const char* env = nullptr) {
  auto opts = parse(args, env);
  if (opts.ok()) return "";
  EXPECT_EQ(opts.status().code(), absl::StatusCode::kInvalidArgument);
  return messageOf(opts.status());
}

TEST(CtlOptionsTest, Credential) {
  auto o = parse({"credential", "--broker", kBroker, "--handle", "H1", "--service",
                  "postgres/db.example.com", "--out", "/tmp/cc"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->command, CtlCommand::kCredential);
  EXPECT_EQ(o->broker, kBroker);
  EXPECT_EQ(o->handle.str(), "H1");
  EXPECT_TRUE(o->handle_file.empty());
  EXPECT_EQ(o->service, "postgres/db.example.com");
  EXPECT_EQ(o->out, "/tmp/cc");
  EXPECT_EQ(o->timeout, std::chrono::seconds(5));
}

TEST(CtlOptionsTest, EqualsFormAndAnyOrder) {
  auto o = parse(
      {"--service=postgres/db", "--handle=H2", "credential", "--broker=" + std::string(kBroker)});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->command, CtlCommand::kCredential);
  EXPECT_EQ(o->handle.str(), "H2");
  EXPECT_EQ(o->service, "postgres/db");
  EXPECT_TRUE(o->out.empty());  // a private temp file
}

TEST(CtlOptionsTest, AValueMayLookLikeAnOption) {
  auto o = parse({"credential", "--broker", kBroker, "--handle", "--weird", "--service", "s"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->handle.str(), "--weird");
}

TEST(CtlOptionsTest, HandleSources) {
  // Environment, when no option gives one.
  auto env = parse({"revoke", "--broker", kBroker}, "ENVHANDLE");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->command, CtlCommand::kRevoke);
  EXPECT_EQ(env->handle.str(), "ENVHANDLE");
  // Options win over the environment.
  auto flag = parse({"revoke", "--broker", kBroker, "--handle", "FLAG"}, "ENVHANDLE");
  ASSERT_TRUE(flag.ok());
  EXPECT_EQ(flag->handle.str(), "FLAG");
  auto file = parse({"revoke", "--broker", kBroker, "--handle-file", "/run/h"}, "ENVHANDLE");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->handle_file, "/run/h");
  EXPECT_TRUE(file->handle.empty());
  auto stdin_file = parse({"revoke", "--broker", kBroker, "--handle-file", "-"});
  ASSERT_TRUE(stdin_file.ok());
  EXPECT_EQ(stdin_file->handle_file, "-");
}

TEST(CtlOptionsTest, HandleErrors) {
  EXPECT_NE(errorOf({"revoke", "--broker", kBroker}).find("no handle"), std::string::npos);
  EXPECT_NE(errorOf({"revoke", "--broker", kBroker}, "").find("no handle"), std::string::npos);
  EXPECT_NE(errorOf({"revoke", "--broker", kBroker, "--handle", "a", "--handle-file", "f"})
                .find("either --handle or --handle-file"),
            std::string::npos);
  EXPECT_NE(errorOf({"revoke", "--broker", kBroker, "--handle="}).find("--handle is empty"),
            std::string::npos);
  EXPECT_NE(errorOf({"revoke", "--broker", kBroker, "--handle", "a", "--handle", "b"})
                .find("--handle given twice"),
            std::string::npos);
  // Commands without a handle do not take one (and ignore the environment).
  EXPECT_NE(errorOf({"list", "--broker", kBroker, "--handle", "a"})
                .find("--handle is not an option of list"),
            std::string::npos);
  auto list = parse({"list", "--broker", kBroker}, "ENVHANDLE");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->handle.empty());
}

TEST(CtlOptionsTest, CredentialNeedsAService) {
  EXPECT_NE(errorOf({"credential", "--broker", kBroker, "--handle", "h"})
                .find("--service SERVICE is required"),
            std::string::npos);
  EXPECT_NE(
      errorOf({"credential", "--broker", kBroker, "--handle", "h", "--service", "s", "--out="})
          .find("--out needs a file name"),
      std::string::npos);
}

TEST(CtlOptionsTest, BrokerIsRequiredAndMustBeUnix) {
  EXPECT_NE(errorOf({"list"}).find("--broker unix:PATH is required"), std::string::npos);
  EXPECT_NE(errorOf({"list", "--broker", "/run/b.sock"}).find("must be unix:/path"),
            std::string::npos);
  EXPECT_NE(errorOf({"list", "--broker", "unix:"}).find("must be unix:/path"), std::string::npos);
  EXPECT_NE(errorOf({"list", "--broker"}).find("--broker needs a value"), std::string::npos);
}

TEST(CtlOptionsTest, OtherCommands) {
  auto list = parse({"list", "--broker", kBroker});
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->command, CtlCommand::kList);
  auto health = parse({"health", "--broker", kBroker, "--timeout", "0.25"});
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->command, CtlCommand::kHealth);
  EXPECT_EQ(health->timeout, std::chrono::milliseconds(250));
  auto revoke_id = parse({"revoke-credential", "--broker", kBroker, "--id", "cred-a"});
  ASSERT_TRUE(revoke_id.ok());
  EXPECT_EQ(revoke_id->command, CtlCommand::kRevokeCredential);
  EXPECT_EQ(revoke_id->credential_id, "cred-a");
  EXPECT_NE(errorOf({"revoke-credential", "--broker", kBroker}).find("--id"), std::string::npos);
}

TEST(CtlOptionsTest, Timeout) {
  for (const char* bad : {"0", "-1", "abc", "1s", "3601", "nan", "inf", ""}) {
    EXPECT_NE(errorOf({"health", "--broker", kBroker, "--timeout", bad}).find("--timeout"),
              std::string::npos)
        << bad;
  }
  auto o = parse({"health", "--broker", kBroker, "--timeout=30"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->timeout, std::chrono::seconds(30));
}

TEST(CtlOptionsTest, HelpAndVersion) {
  auto help = parse({"--help"});
  ASSERT_TRUE(help.ok());
  EXPECT_EQ(help->command, CtlCommand::kHelp);
  EXPECT_EQ(parse({"-h"})->command, CtlCommand::kHelp);
  EXPECT_EQ(parse({"help"})->command, CtlCommand::kHelp);
  // --help wins even over an otherwise incomplete command line.
  EXPECT_EQ(parse({"credential", "--help"})->command, CtlCommand::kHelp);
  EXPECT_EQ(parse({"--version"})->command, CtlCommand::kVersion);
  EXPECT_NE(ctlUsage().find("KRB5CCNAME=FILE:"), std::string::npos);
  EXPECT_NE(ctlUsage().find("GSSGATE_HANDLE"), std::string::npos);
}

TEST(CtlOptionsTest, UsageErrors) {
  EXPECT_NE(errorOf({}).find("no command given"), std::string::npos);
  EXPECT_NE(errorOf({"frobnicate", "--broker", kBroker}).find("unknown command 'frobnicate'"),
            std::string::npos);
  EXPECT_NE(errorOf({"list", "--broker", kBroker, "--verbose"}).find("unknown option '--verbose'"),
            std::string::npos);
  EXPECT_NE(errorOf({"list", "extra", "--broker", kBroker}).find("unexpected argument 'extra'"),
            std::string::npos);
  EXPECT_NE(errorOf({"health", "--broker", kBroker, "--service", "x"})
                .find("--service is not an option of health"),
            std::string::npos);
  // Every usage error is one line and points at --help.
  for (const Args& args :
       {Args{}, Args{"list"}, Args{"x"}, Args{"credential", "--broker", kBroker}}) {
    const std::string msg = errorOf(args);
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_NE(msg.find("gssgatectl --help"), std::string::npos) << msg;
  }
}

TEST(CtlOptionsTest, TheHandleIsNeverInAnError) {
  const std::string msg = errorOf({"credential", "--broker", kBroker, "--handle", "SECRET-H"});
  EXPECT_FALSE(msg.empty());
  EXPECT_EQ(msg.find("SECRET-H"), std::string::npos) << msg;
}

}  // namespace
}  // namespace gssgate::client

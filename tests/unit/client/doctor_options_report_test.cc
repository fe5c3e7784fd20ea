// gssgatectl doctor: its command line (also as reached through parseCtlArgs) and its report.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "client/ctl/ctl_options.h"
#include "client/doctor/doctor_options.h"
#include "client/doctor/doctor_report.h"
#include "common/strings.h"

namespace gssgate::client {
namespace {

using Args = std::vector<std::string>;

std::string errorOf(const Args& args) {
  auto opts = parseDoctorArgs(args);
  if (opts.ok()) return "";
  EXPECT_EQ(opts.status().code(), absl::StatusCode::kInvalidArgument);
  return messageOf(opts.status());
}

TEST(DoctorOptionsTest, AllOptions) {
  auto o = parseDoctorArgs({"--proxy-config", "/etc/p.yaml", "--broker-config=/etc/b.yaml", "--uid",
                            "1000", "--service", "postgres/db", "--json", "--timeout", "1.5"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->proxy_config, "/etc/p.yaml");
  EXPECT_EQ(o->broker_config, "/etc/b.yaml");
  EXPECT_EQ(o->uid, "1000");
  EXPECT_EQ(o->service, "postgres/db");
  EXPECT_TRUE(o->json);
  EXPECT_EQ(o->timeout, std::chrono::milliseconds(1500));
  EXPECT_FALSE(o->help);
}

TEST(DoctorOptionsTest, Refusals) {
  EXPECT_NE(errorOf({}).find("--proxy-config FILE, --broker-config FILE or both"),
            std::string::npos);
  EXPECT_NE(errorOf({"--broker-config", "/b", "--uid", "1"}).find("go together"),
            std::string::npos);
  EXPECT_NE(errorOf({"--proxy-config", "/p", "--uid", "1", "--service", "x/y"})
                .find("give --broker-config"),
            std::string::npos);
  EXPECT_NE(errorOf({"--broker-config", "/b", "--uid", "1", "--service", "x/y@R"}).find("realm"),
            std::string::npos);
  EXPECT_NE(errorOf({"--proxy-config"}).find("needs a value"), std::string::npos);
  EXPECT_NE(errorOf({"--proxy-config", "/p", "--proxy-config", "/q"}).find("twice"),
            std::string::npos);
  EXPECT_NE(errorOf({"--proxy-config", "/p", "--broker", "unix:/x"}).find("unknown option"),
            std::string::npos);
  EXPECT_NE(errorOf({"--proxy-config", "/p", "extra"}).find("unexpected argument"),
            std::string::npos);
  EXPECT_NE(errorOf({"--proxy-config", "/p", "--timeout", "0"}).find("--timeout"),
            std::string::npos);
  EXPECT_NE(errorOf({"--proxy-config="}).find("empty"), std::string::npos);
  EXPECT_NE(errorOf({}).find("gssgatectl doctor --help"), std::string::npos);
}

TEST(DoctorOptionsTest, HelpNeedsNothingElse) {
  auto o = parseDoctorArgs({"--help"});
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->help);
  EXPECT_NE(doctorUsage().find("ok-as-delegate"), std::string::npos);
}

TEST(DoctorOptionsTest, ReachedThroughGssgatectl) {
  auto o = parseCtlArgs({"doctor", "--broker-config", "/b.yaml"}, nullptr);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->command, CtlCommand::kDoctor);
  EXPECT_EQ(o->doctor.broker_config, "/b.yaml");
  // doctor takes no --broker; options before the command word are not doctor's.
  EXPECT_FALSE(parseCtlArgs({"doctor", "--broker", "unix:/x"}, nullptr).ok());
  auto late = parseCtlArgs({"--broker", "unix:/x", "doctor"}, nullptr);
  ASSERT_FALSE(late.ok());
  EXPECT_NE(messageOf(late.status()).find("doctor first"), std::string::npos);
  EXPECT_NE(ctlUsage().find("doctor"), std::string::npos);
}

DoctorReport sampleReport() {
  DoctorReport r;
  r.add({Verdict::kOk, "keytab", "keytab /k holds HTTP/a@R", "never shown for ok"});
  r.add({Verdict::kWarn, "ok-as-delegate", "HTTP/a@R lacks ok_as_delegate", "modprinc"});
  r.add({Verdict::kFail, "kdc", "cannot reach\nany KDC \"R\"", "start it"});
  r.add({Verdict::kSkip, "kvno", "not checked", ""});
  return r;
}

TEST(DoctorReportTest, TextHasOneLinePerCheckAndASummary) {
  const DoctorReport r = sampleReport();
  const std::string text = r.text();
  const auto lines = splitTrimmed(text, '\n');
  ASSERT_EQ(lines.size(), 6u) << text;  // 4 checks + summary + the empty part after the last \n
  EXPECT_EQ(lines[0], "ok    keytab: keytab /k holds HTTP/a@R");
  EXPECT_EQ(lines[1], "warn  ok-as-delegate: HTTP/a@R lacks ok_as_delegate Fix: modprinc");
  EXPECT_EQ(lines[2], "FAIL  kdc: cannot reach?any KDC \"R\" Fix: start it");
  EXPECT_EQ(lines[3], "skip  kvno: not checked");
  EXPECT_EQ(lines[4], "doctor: 1 FAIL, 1 warn, 1 ok, 1 skipped");
  EXPECT_EQ(r.exitCode(), 1);
  EXPECT_EQ(r.verdictOf("kdc"), Verdict::kFail);
  EXPECT_EQ(r.verdictOf("absent"), Verdict::kSkip);
}

TEST(DoctorReportTest, WarningsDoNotFail) {
  DoctorReport r;
  r.add({Verdict::kWarn, "a", "x", "y"});
  r.add({Verdict::kSkip, "b", "x", ""});
  EXPECT_EQ(r.exitCode(), 0);
}

TEST(DoctorReportTest, JsonEscapes) {
  const std::string json = sampleReport().json();
  EXPECT_NE(
      json.find(
          R"({"check":"kdc","status":"fail","finding":"cannot reach\u000aany KDC \"R\"","fix":"start it"})"),
      std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("ok":1,"warn":1,"fail":1,"skip":1})"), std::string::npos) << json;
}

}  // namespace
}  // namespace gssgate::client

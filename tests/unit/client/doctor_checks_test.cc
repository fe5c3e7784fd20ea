// gssgatectl doctor's checks, on the parts that need no KDC: keytab content and mode, what a
// failed AS exchange means, clock skew, kvno and ok_as_delegate verdicts, the replay cache
// location and writability, socket files, and the broker's policy.
#include <gtest/gtest.h>
#include <krb5/krb5.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "client/doctor/kdc_check.h"
#include "client/doctor/keytab_check.h"
#include "client/doctor/policy_check.h"
#include "client/doctor/replay_cache_check.h"
#include "client/doctor/socket_check.h"
#include "common/strings.h"
#include "common/unique_fd.h"

namespace gssgate::client {
namespace {

bool has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

// A private temp directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/gssgate-doctor-XXXXXX";
    path_ = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&&) = delete;
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<KeytabEntryInfo> entries() {
  return {{"HTTP/www.example.com@EX.COM", 2, "aes256-cts"},
          {"HTTP/www.example.com@EX.COM", 3, "aes256-cts"},
          {"HTTP/www.example.com@EX.COM", 3, "aes128-cts"},
          {"host/www.example.com@EX.COM", 7, "aes256-cts"}};
}

TEST(DoctorKeytabTest, AcceptorPresent) {
  std::vector<std::string> subjects;
  const CheckResult r =
      evaluateKeytabEntries("/k", entries(), "HTTP/www.example.com@EX.COM", subjects);
  EXPECT_EQ(r.verdict, Verdict::kOk);
  EXPECT_TRUE(has(r.finding, "HTTP/www.example.com@EX.COM (kvno 3, aes128-cts aes256-cts)"))
      << r.finding;
  EXPECT_EQ(subjects, std::vector<std::string>{"HTTP/www.example.com@EX.COM"});
  // Without a realm, the acceptor matches in any realm.
  EXPECT_EQ(evaluateKeytabEntries("/k", entries(), "HTTP/www.example.com", subjects).verdict,
            Verdict::kOk);
  EXPECT_EQ(highestKvno(entries(), "HTTP/www.example.com"), 3u);
  EXPECT_EQ(highestKvno(entries(), "HTTP/other@EX.COM"), 0u);
}

TEST(DoctorKeytabTest, AcceptorMissingListsWhatIsThere) {
  std::vector<std::string> subjects;
  const CheckResult r = evaluateKeytabEntries("/k", entries(), "HTTP/other.example.com", subjects);
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_TRUE(has(r.finding, "no key for the configured acceptor HTTP/other.example.com"));
  EXPECT_TRUE(has(r.finding, "host/www.example.com@EX.COM")) << r.finding;
  EXPECT_TRUE(has(r.fix, "ktadd -k /k -norandkey HTTP/other.example.com")) << r.fix;
  EXPECT_TRUE(subjects.empty());
}

TEST(DoctorKeytabTest, WithoutAcceptorNeedsAnHttpPrincipal) {
  std::vector<std::string> subjects;
  EXPECT_EQ(evaluateKeytabEntries("/k", entries(), "", subjects).verdict, Verdict::kOk);
  EXPECT_EQ(subjects, std::vector<std::string>{"HTTP/www.example.com@EX.COM"});
  const std::vector<KeytabEntryInfo> no_http = {{"host/a@EX.COM", 1, "aes256-cts"}};
  const CheckResult r = evaluateKeytabEntries("/k", no_http, "", subjects);
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_TRUE(has(r.finding, "no HTTP/* principal")) << r.finding;
  EXPECT_EQ(evaluateKeytabEntries("/k", {}, "", subjects).verdict, Verdict::kFail);
}

TEST(DoctorKeytabTest, ModeWarnsWhenOthersCanRead) {
  EXPECT_EQ(evaluateKeytabMode("/k", S_IFREG | 0600).verdict, Verdict::kOk);
  const CheckResult r = evaluateKeytabMode("/k", S_IFREG | 0644);
  EXPECT_EQ(r.verdict, Verdict::kWarn);
  EXPECT_TRUE(has(r.finding, "mode 0644")) << r.finding;
  EXPECT_TRUE(has(r.fix, "chmod 0600 /k"));
  EXPECT_EQ(evaluateKeytabMode("/k", S_IFREG | 0640).verdict, Verdict::kWarn);
}

TEST(DoctorKeytabTest, MissingAndGarbageFiles) {
  const TempDir dir;
  std::vector<KeytabEntryInfo> found;
  std::vector<std::string> subjects;
  auto missing = checkKeytab(dir.path() + "/none.keytab", "HTTP/a", found, subjects);
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0].verdict, Verdict::kFail);
  EXPECT_TRUE(has(missing[0].finding, "No such file or directory")) << missing[0].finding;

  const std::string garbage = dir.path() + "/garbage.keytab";
  std::ofstream(garbage) << "this is not a keytab";
  ::chmod(garbage.c_str(), 0600);
  auto bad = checkKeytab(garbage, "HTTP/a", found, subjects);
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(bad[0].verdict, Verdict::kFail);
  EXPECT_TRUE(has(bad[0].finding, "cannot be read as a keytab")) << bad[0].finding;
  EXPECT_EQ(bad[1].check, "keytab-mode");
  EXPECT_TRUE(subjects.empty());
}

KdcCheckInput kdcInput() {
  return {.keytab = "/etc/gssgate/http.keytab",
          .principal = "HTTP/www.example.com@EX.COM",
          .keytab_kvno = 3,
          .broker_configured = true};
}

TEST(DoctorKdcTest, AsFailuresInPlainWords) {
  const KdcCheckInput in = kdcInput();
  KdcFindings f = explainAsFailure(KRB5_KDC_UNREACH, "Cannot contact any KDC", in, "EX.COM");
  EXPECT_EQ(f.kdc.verdict, Verdict::kFail);
  EXPECT_TRUE(has(f.kdc.finding, "cannot reach any KDC for realm EX.COM"));
  EXPECT_EQ(f.kvno.verdict, Verdict::kSkip);
  EXPECT_EQ(f.skew.verdict, Verdict::kSkip);

  f = explainAsFailure(KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, "not found", in, "EX.COM");
  EXPECT_EQ(f.kdc.verdict, Verdict::kFail);
  EXPECT_TRUE(has(f.kdc.finding, "does not know HTTP/www.example.com@EX.COM"));
  EXPECT_TRUE(has(f.kdc.fix, "addprinc -randkey"));

  for (int32_t code : {static_cast<int32_t>(KRB5KDC_ERR_PREAUTH_FAILED),
                       static_cast<int32_t>(KRB5KRB_AP_ERR_BAD_INTEGRITY)}) {
    f = explainAsFailure(code, "Preauthentication failed", in, "EX.COM");
    EXPECT_EQ(f.kdc.verdict, Verdict::kOk);
    EXPECT_EQ(f.kvno.verdict, Verdict::kFail);
    EXPECT_TRUE(has(f.kvno.finding, "has kvno 3 for HTTP/www.example.com@EX.COM"));
    EXPECT_TRUE(has(f.kvno.finding, "changed after the keytab was exported"));
    EXPECT_TRUE(has(f.kvno.fix, "-norandkey HTTP/www.example.com@EX.COM"));
    EXPECT_TRUE(has(f.kvno.fix, "msktutil --update"));
  }

  f = explainAsFailure(KRB5KRB_AP_ERR_SKEW, "Clock skew too great", in, "EX.COM");
  EXPECT_EQ(f.skew.verdict, Verdict::kFail);
  EXPECT_TRUE(has(f.skew.fix, "synchronise"));

  f = explainAsFailure(KRB5_REALM_UNKNOWN, "Cannot find KDC", in, "EX.COM");
  EXPECT_TRUE(has(f.kdc.fix, "[realms] EX.COM"));

  f = explainAsFailure(-1, "something odd", in, "EX.COM");
  EXPECT_EQ(f.kdc.verdict, Verdict::kFail);
  EXPECT_TRUE(has(f.kdc.finding, "something odd"));
}

TEST(DoctorKdcTest, Skew) {
  EXPECT_EQ(evaluateSkew(0, 300).verdict, Verdict::kOk);
  EXPECT_EQ(evaluateSkew(-59, 300).verdict, Verdict::kOk);
  const CheckResult warn = evaluateSkew(-90, 300);
  EXPECT_EQ(warn.verdict, Verdict::kWarn);
  EXPECT_TRUE(has(warn.finding, "90 s ahead of the KDC's")) << warn.finding;
  const CheckResult fail = evaluateSkew(600, 300);
  EXPECT_EQ(fail.verdict, Verdict::kFail);
  EXPECT_TRUE(has(fail.finding, "600 s behind the KDC's (allowed: 300 s")) << fail.finding;
  EXPECT_EQ(evaluateSkew(20, 30).verdict, Verdict::kWarn);  // a tight clockskew warns earlier
}

TEST(DoctorKdcTest, Kvno) {
  const KdcCheckInput in = kdcInput();
  EXPECT_EQ(evaluateKvno(in, 3, "").verdict, Verdict::kOk);
  const CheckResult stale = evaluateKvno(in, 4,
                                         "Key version number for principal in key table "
                                         "is incorrect");
  EXPECT_EQ(stale.verdict, Verdict::kFail);
  EXPECT_TRUE(has(stale.finding,
                  "has kvno 3 for HTTP/www.example.com@EX.COM but the KDC "
                  "issues kvno 4"))
      << stale.finding;
  const CheckResult undecryptable = evaluateKvno(in, 3, "Decrypt integrity check failed");
  EXPECT_EQ(undecryptable.verdict, Verdict::kFail);
  EXPECT_TRUE(has(undecryptable.finding, "cannot decrypt"));
}

TEST(DoctorKdcTest, OkAsDelegate) {
  EXPECT_EQ(evaluateOkAsDelegate("HTTP/a@R", true, true).verdict, Verdict::kOk);
  const CheckResult warn = evaluateOkAsDelegate("HTTP/a@R", false, true);
  EXPECT_EQ(warn.verdict, Verdict::kWarn);
  EXPECT_TRUE(has(warn.finding, "will not delegate"));
  EXPECT_TRUE(has(warn.fix, "modprinc +ok_as_delegate HTTP/a@R"));
  EXPECT_EQ(evaluateOkAsDelegate("HTTP/a@R", false, false).verdict, Verdict::kOk);
}

TEST(DoctorReplayCacheTest, Resolution) {
  ReplayCacheLocation l = resolveReplayCache("file2:/var/lib/gssgate/rcache", "none:", "/x", 33);
  EXPECT_EQ(l.kind, ReplayCacheLocation::Kind::kFile);
  EXPECT_EQ(l.dir, "/var/lib/gssgate");
  EXPECT_EQ(l.file, "/var/lib/gssgate/rcache");
  l = resolveReplayCache("", nullptr, nullptr, 33);
  EXPECT_EQ(l.dir, "/var/tmp");
  EXPECT_EQ(l.file, "/var/tmp/krb5_33.rcache2");
  l = resolveReplayCache("", nullptr, "/run/rc", 33);
  EXPECT_EQ(l.file, "/run/rc/krb5_33.rcache2");
  EXPECT_EQ(l.source, "KRB5RCACHEDIR");
  EXPECT_EQ(resolveReplayCache("", "none:", nullptr, 0).kind, ReplayCacheLocation::Kind::kNone);
  EXPECT_EQ(resolveReplayCache("weird:x", nullptr, nullptr, 0).kind,
            ReplayCacheLocation::Kind::kUnknown);
}

TEST(DoctorReplayCacheTest, WritableMissingAndNotADirectory) {
  const TempDir dir;
  ::chmod(dir.path().c_str(), 0700);
  CheckResult ok = checkReplayCache(
      resolveReplayCache(strCat("file2:", dir.path(), "/rc"), nullptr, nullptr, 0));
  EXPECT_EQ(ok.verdict, Verdict::kOk) << ok.finding;
  EXPECT_TRUE(std::filesystem::is_empty(dir.path())) << "the probe file must be removed";

  const CheckResult missing = checkReplayCache(
      resolveReplayCache(strCat("file2:", dir.path(), "/nope/rc"), nullptr, nullptr, 0));
  EXPECT_EQ(missing.verdict, Verdict::kFail);
  EXPECT_TRUE(has(missing.finding, "No such file or directory")) << missing.finding;
  EXPECT_TRUE(has(missing.fix, "mkdir -m 0700"));

  const std::string file = dir.path() + "/plain";
  std::ofstream(file) << "x";
  const CheckResult notdir =
      checkReplayCache(resolveReplayCache(strCat("file2:", file, "/rc"), nullptr, nullptr, 0));
  EXPECT_EQ(notdir.verdict, Verdict::kFail);
  EXPECT_TRUE(has(notdir.finding, "every sign-in would fail")) << notdir.finding;

  EXPECT_EQ(checkReplayCache(resolveReplayCache("none:", nullptr, nullptr, 0)).verdict,
            Verdict::kWarn);
}

TEST(DoctorSocketTest, Verdicts) {
  SocketExpectation want{.name = "socket:deposit_listen",
                         .path = "/run/d.sock",
                         .config_key = "deposit_listen",
                         .mode = 0600,
                         .owner = 0,
                         .deposit = true};
  EXPECT_TRUE(has(evaluateSocketFile(want, nullptr, ENOENT).finding, "/run/d.sock is missing"));
  const CheckResult denied = evaluateSocketFile(want, nullptr, EACCES);
  EXPECT_EQ(denied.verdict, Verdict::kFail);
  EXPECT_TRUE(has(denied.finding, "cannot be reached by uid")) << denied.finding;
  EXPECT_TRUE(has(denied.finding, "Permission denied")) << denied.finding;
  struct stat st {};
  st.st_mode = S_IFREG | 0600;
  EXPECT_TRUE(has(evaluateSocketFile(want, &st, 0).finding, "not a socket"));
  st.st_mode = S_IFSOCK | 0600;
  EXPECT_EQ(evaluateSocketFile(want, &st, 0).verdict, Verdict::kOk);
  st.st_mode = S_IFSOCK | 0660;
  CheckResult r = evaluateSocketFile(want, &st, 0);
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_TRUE(has(r.finding, "mode 0660 (configured 0600)")) << r.finding;
  st.st_mode = S_IFSOCK | 0666;
  r = evaluateSocketFile(want, &st, 0);
  EXPECT_TRUE(has(r.finding, "any local user can connect to the deposit socket")) << r.finding;
  st.st_mode = S_IFSOCK | 0600;
  st.st_uid = 1234;
  r = evaluateSocketFile(want, &st, 0);
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_TRUE(has(r.finding, "owner uid 1234 (configured 0)")) << r.finding;
}

TEST(DoctorSocketTest, RealSocketFileAndNoBroker) {
  const TempDir dir;
  const std::string path = dir.path() + "/b.sock";
  const UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::chmod(path.c_str(), 0660);
  const CheckResult file = checkSocketFile(
      {.name = "socket:listen", .path = path, .config_key = "listen", .mode = 0660});
  EXPECT_EQ(file.verdict, Verdict::kOk) << file.finding;
  // Bound but not listening: a stale socket file, as after a crash.
  const CheckResult health = checkBrokerHealth("broker:listen", path, std::chrono::seconds(2));
  EXPECT_EQ(health.verdict, Verdict::kFail);
  EXPECT_TRUE(has(health.fix, "stale")) << health.finding << " / " << health.fix;
}

TEST(DoctorPolicyTest, SampleAndListing) {
  std::vector<broker::PolicyEntry> policy(2);
  policy[0].uid = 1000;
  policy[0].services = {"postgres/*"};
  policy[1].services = {"ldap/ldap.example.com"};
  policy[1].allow_tgt = true;
  CheckResult r = checkPolicy(policy, 1000, "postgres/db.example.com");
  EXPECT_EQ(r.verdict, Verdict::kOk);
  EXPECT_TRUE(has(r.finding, "uid 1000 may redeem postgres/db.example.com (policy entry 1"))
      << r.finding;
  r = checkPolicy(policy, 33, "ldap/ldap.example.com");
  EXPECT_TRUE(has(r.finding, "entry 2")) << r.finding;
  EXPECT_TRUE(has(r.finding, "TGT"));
  r = checkPolicy(policy, 33, "postgres/db.example.com");
  EXPECT_EQ(r.verdict, Verdict::kFail);
  EXPECT_TRUE(has(r.finding, "no policy entry grants postgres/db.example.com to uid 33"));
  EXPECT_TRUE(has(r.fix, "- uid: 33  services: [\"postgres/*\"]")) << r.fix;

  r = checkPolicy(policy, std::nullopt, "");
  EXPECT_EQ(r.verdict, Verdict::kOk);
  EXPECT_TRUE(has(r.finding,
                  "entry 1: uid 1000 -> postgres/*; entry 2: uid any -> "
                  "ldap/ldap.example.com (+TGT)"))
      << r.finding;
  EXPECT_EQ(checkPolicy({}, std::nullopt, "").verdict, Verdict::kWarn);
  EXPECT_EQ(checkPolicy({}, 1, "postgres/x").verdict, Verdict::kFail);
}

}  // namespace
}  // namespace gssgate::client

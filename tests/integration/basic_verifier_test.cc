// BasicVerifier against a real MIT KDC (tests/realm): right and wrong passwords, unknown and
// expired users, malformed input, an unreachable KDC, and the reason the keytab check exists —
// a second, independent KDC for the same realm name (a rogue KDC that knows alice's password)
// must not be able to log anyone in.
#include "proxy/auth/basic_verifier.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/base64.h"
#include "tests/realm/realm_fixture.h"

namespace gssgate::proxy {
namespace {

using test::TestRealm;
using Outcome = BasicResult::Outcome;

constexpr const char* kColonPassword = "pa:ss:word";

std::string basic(std::string_view user, std::string_view password) {
  std::string plain(user);
  plain += ':';
  plain += password;
  return base64Encode(plain);
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// `text` with every occurrence of `from` replaced by `to`.
std::string replaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size()) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

// A loopback TCP port that nothing listens on (bound, then closed).
int closedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  auto* sa = reinterpret_cast<sockaddr*>(&addr);  // NOLINT: the sockets API
  EXPECT_EQ(::bind(fd, sa, sizeof(addr)), 0);
  EXPECT_EQ(::getsockname(fd, sa, &len), 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// The "127.0.0.1:PORT" of the realm's KDC, read from its krb5.conf.
std::string kdcAddress(const TestRealm& realm) {
  std::string conf = readFile(realm.env().at("KRB5_CONFIG"));
  const std::string key = "kdc = ";
  size_t pos = conf.find(key + "127.0.0.1:");  // not "dns_lookup_kdc = false"
  if (pos == std::string::npos) return "";
  pos += key.size();
  return conf.substr(pos, conf.find('\n', pos) - pos);
}

int64_t nowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

class BasicVerifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    realm_ = TestRealm::start({"alice", "bob", "carol", "dave"}, {"HTTP/localhost"}).release();
    if (realm_ == nullptr) return;
    realm_->exportEnv();
    // carol's password holds colons; dave's has expired.
    setupOk_ = kadmin(std::string("cpw -pw \"") + kColonPassword + "\" carol") &&
               kadmin("modprinc -pwexpire \"2000-01-01 00:00:00\" dave");
  }
  static void TearDownTestSuite() {
    delete realm_;
    realm_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(realm_, nullptr) << TestRealm::lastError();
    ASSERT_TRUE(setupOk_);
    auto v = BasicVerifier::create(realm_->keytab("HTTP/localhost"), "HTTP/localhost");
    ASSERT_TRUE(v.ok()) << v.status();
    verifier_ = std::move(*v);
  }
  // Every test leaves the process pointed at the suite's realm.
  void TearDown() override {
    if (realm_ != nullptr) realm_->exportEnv();
  }

  static bool kadmin(const std::string& query) {
    std::string out;
    int rc = test::runCommand({"/usr/sbin/kadmin.local", "-r", realm_->realm(), "-q", query},
                              realm_->env(), &out);
    EXPECT_EQ(rc, 0) << query << ": " << out;
    return rc == 0;
  }

  // Writes a copy of the realm's krb5.conf with `from` replaced by `to`, and points
  // KRB5_CONFIG at it (read by the next krb5_context).
  static std::string useConfigVariant(const std::string& file, const std::string& from,
                                      const std::string& to) {
    std::string conf = readFile(realm_->env().at("KRB5_CONFIG"));
    EXPECT_NE(conf.find(from), std::string::npos) << from;
    std::string path = realm_->dir() + "/" + file;
    writeFile(path, replaceAll(conf, from, to));
    setenv("KRB5_CONFIG", path.c_str(), 1);
    return path;
  }

  BasicResult verify(std::string_view user, std::string_view password) const {
    return verifier_->verify(basic(user, password));
  }

  static TestRealm* realm_;
  static bool setupOk_;
  std::unique_ptr<BasicVerifier> verifier_;
};
TestRealm* BasicVerifierTest::realm_ = nullptr;
bool BasicVerifierTest::setupOk_ = false;

const char* outcomeName(Outcome o) {
  switch (o) {
    case Outcome::kOk:
      return "kOk";
    case Outcome::kMalformed:
      return "kMalformed";
    case Outcome::kBadCredentials:
      return "kBadCredentials";
    case Outcome::kUnavailable:
      return "kUnavailable";
    case Outcome::kForbidden:
      return "kForbidden";
  }
  return "?";
}

// EXPECT_TRUE(is(r, Outcome::kOk, "ok")): outcome and reason, with the detail on failure.
::testing::AssertionResult is(const BasicResult& r, Outcome outcome, const std::string& reason) {
  if (r.outcome == outcome && r.reason == reason) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "got " << outcomeName(r.outcome) << "/" << r.reason << ", want " << outcomeName(outcome)
         << "/" << reason << "; detail: " << r.detail;
}

TEST_F(BasicVerifierTest, CreateChecksKeytabAndPicksServer) {
  EXPECT_EQ(verifier_->serverPrincipal(), "HTTP/localhost@GSSGATE.TEST");
  EXPECT_EQ(verifier_->realm(), "GSSGATE.TEST");

  auto first = BasicVerifier::create(realm_->keytab("HTTP/localhost"), "");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)->serverPrincipal(), "HTTP/localhost@GSSGATE.TEST");

  EXPECT_FALSE(BasicVerifier::create(realm_->dir() + "/no-such.keytab", "").ok());
  EXPECT_FALSE(BasicVerifier::create(realm_->keytab("HTTP/localhost"), "HTTP/other.example").ok());
  EXPECT_FALSE(BasicVerifier::create(realm_->keytab("HTTP/localhost"), "a@@@b@").ok());
  std::string empty = realm_->dir() + "/empty.keytab";
  writeFile(empty, "");
  EXPECT_FALSE(BasicVerifier::create(empty, "").ok());
}

TEST_F(BasicVerifierTest, RightPasswordLogsIn) {
  const int64_t before = nowSeconds();
  BasicResult r = verify("alice", TestRealm::password("alice"));
  EXPECT_TRUE(is(r, Outcome::kOk, "ok"));
  EXPECT_EQ(r.principal, "alice@GSSGATE.TEST");
  EXPECT_EQ(r.local_name, "alice");
  // krb5.conf asks for 10 h; the KDC's max_life is 10 h.
  EXPECT_GT(r.ticket_end, before + int64_t{9} * 3600);
  EXPECT_LE(r.ticket_end, nowSeconds() + int64_t{10} * 3600 + 5);
  EXPECT_EQ(r.detail, "");
}

TEST_F(BasicVerifierTest, RealmMayBeGivenInAnyCase) {
  for (const char* user : {"alice@GSSGATE.TEST", "alice@gssgate.test"}) {
    BasicResult r = verify(user, TestRealm::password("alice"));
    EXPECT_TRUE(is(r, Outcome::kOk, "ok"));
    EXPECT_EQ(r.principal, "alice@GSSGATE.TEST") << user;
    EXPECT_EQ(r.local_name, "alice") << user;
  }
  // Spaces around the base64 (HTTP's optional whitespace) are ignored.
  BasicResult r = verifier_->verify("  " + basic("bob", TestRealm::password("bob")) + " ");
  EXPECT_TRUE(is(r, Outcome::kOk, "ok"));
  EXPECT_EQ(r.local_name, "bob");
}

TEST_F(BasicVerifierTest, PasswordIsEverythingAfterTheFirstColon) {
  BasicResult r = verify("carol", kColonPassword);
  EXPECT_TRUE(is(r, Outcome::kOk, "ok"));
  EXPECT_EQ(r.local_name, "carol");
  r = verify("carol", "pa");
  EXPECT_TRUE(is(r, Outcome::kBadCredentials, "bad_password"));
}

TEST_F(BasicVerifierTest, WrongPasswordIsRefused) {
  const std::string wrong = "not-alices-password";
  BasicResult r = verify("alice", wrong);
  EXPECT_TRUE(is(r, Outcome::kBadCredentials, "bad_password"));
  EXPECT_EQ(r.principal, "alice@GSSGATE.TEST");
  EXPECT_EQ(r.local_name, "");
  EXPECT_EQ(r.ticket_end, 0);
  EXPECT_NE(r.detail, "");
  EXPECT_EQ(r.detail.find(wrong), std::string::npos) << r.detail;
  // Another user's password.
  r = verify("alice", TestRealm::password("bob"));
  EXPECT_TRUE(is(r, Outcome::kBadCredentials, "bad_password"));
}

TEST_F(BasicVerifierTest, UnknownUserIsRefused) {
  BasicResult r = verify("mallory", "mallory-password");
  EXPECT_TRUE(is(r, Outcome::kBadCredentials, "unknown_user"));
  EXPECT_EQ(r.local_name, "");
  EXPECT_EQ(r.detail.find("mallory-password"), std::string::npos) << r.detail;
}

TEST_F(BasicVerifierTest, ExpiredPasswordIsRefused) {
  BasicResult r = verify("dave", TestRealm::password("dave"));
  EXPECT_TRUE(is(r, Outcome::kBadCredentials, "password_expired"));
  EXPECT_EQ(r.local_name, "");
}

TEST_F(BasicVerifierTest, OnlyPlainNamesOfTheServersRealm) {
  const std::string pw = TestRealm::password("alice");
  EXPECT_TRUE(is(verify("alice@OTHER.TEST", pw), Outcome::kBadCredentials, "wrong_realm"));
  EXPECT_TRUE(is(verify("alice@", pw), Outcome::kBadCredentials, "wrong_realm"));
  // Enterprise-style names, service principals, krb5 escapes.
  EXPECT_TRUE(is(verify("alice@gssgate.test@GSSGATE.TEST", pw), Outcome::kBadCredentials,
                 "name_not_allowed"));
  EXPECT_TRUE(is(verify("HTTP/localhost", pw), Outcome::kBadCredentials, "name_not_allowed"));
  EXPECT_TRUE(is(verify("krbtgt/GSSGATE.TEST", pw), Outcome::kBadCredentials, "name_not_allowed"));
  EXPECT_TRUE(is(verify("al\\ice", pw), Outcome::kBadCredentials, "name_not_allowed"));
}

TEST_F(BasicVerifierTest, BareNameGetsTheDefaultRealm) {
  useConfigVariant("other-default-realm.conf", "default_realm = GSSGATE.TEST",
                   "default_realm = OTHER.TEST");
  const std::string pw = TestRealm::password("alice");
  EXPECT_TRUE(is(verify("alice", pw), Outcome::kBadCredentials, "wrong_realm"));
  // With the realm spelled out the login works, but auth_to_local DEFAULT maps only the
  // default realm's principals, exactly as for Negotiate: no local name.
  BasicResult r = verify("alice@GSSGATE.TEST", pw);
  EXPECT_TRUE(is(r, Outcome::kForbidden, "no_local_name"));
  EXPECT_EQ(r.principal, "alice@GSSGATE.TEST");
}

TEST_F(BasicVerifierTest, MalformedInputIsRejected) {
  const std::string pw = TestRealm::password("alice");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"spaces only", "   "},
      {"not base64", "!!!not-base64!!!"},
      {"bad padding", "YWxpY2U6eA="},
      {"non-canonical bits", "YWxpY2U6eR=="},
      {"inner space", "YWxp Y2U6eA=="},
      {"no colon", base64Encode("alice")},
      {"empty name with realm", basic("@GSSGATE.TEST", pw)},
      {"NUL in user", basic(std::string("ali\0ce", 6), pw)},
      {"newline in user", basic("alice\n", pw)},
      {"tab in user", basic("ali\tce", pw)},
      {"DEL in user", basic("alice\x7f", pw)},
      {"NUL in password", basic("alice", std::string("alice\0password", 14))},
      {"user too long", basic(std::string(BasicVerifier::kMaxUserBytes + 1, 'a'), pw)},
      {"password too long", basic("alice", std::string(BasicVerifier::kMaxPasswordBytes + 1, 'p'))},
      {"huge", std::string(100000, 'A')},
  };
  for (const auto& [what, credentials] : cases) {
    BasicResult r = verifier_->verify(credentials);
    EXPECT_EQ(r.outcome, Outcome::kMalformed) << what << ": " << r.reason << " " << r.detail;
    EXPECT_EQ(r.reason, "malformed") << what;
    EXPECT_EQ(r.local_name, "") << what;
    EXPECT_EQ(r.detail.find(pw), std::string::npos) << what << ": " << r.detail;
  }
}

TEST_F(BasicVerifierTest, EmptyFieldsAreAWrongLoginNotMalformed) {
  // A person pressing Enter in the browser's dialog gets asked again (401), not a 400 page.
  const std::string pw = TestRealm::password("alice");
  for (const auto& credentials : {basic("", pw), basic("alice", ""), base64Encode(":")}) {
    BasicResult r = verifier_->verify(credentials);
    EXPECT_TRUE(is(r, Outcome::kBadCredentials, "login_failed")) << r.reason << " " << r.detail;
  }
}

TEST_F(BasicVerifierTest, LimitsAreInclusive) {
  // At the limits the input goes to the KDC, which answers for itself.
  BasicResult r = verify(std::string(BasicVerifier::kMaxUserBytes, 'u'), "x");
  EXPECT_TRUE(is(r, Outcome::kBadCredentials, "unknown_user"));
  r = verify("alice", std::string(BasicVerifier::kMaxPasswordBytes, 'p'));
  EXPECT_TRUE(is(r, Outcome::kBadCredentials, "bad_password"));
  // Bytes above 0x7f are not control bytes; the KDC decides.
  r = verify("\xc3\xa4lice", "x");
  EXPECT_TRUE(is(r, Outcome::kBadCredentials, "unknown_user"));
}

TEST_F(BasicVerifierTest, NoLocalNameIsForbidden) {
  // auth_to_local that maps nobody: authentication succeeds, the mapping does not.
  useConfigVariant("no-mapping.conf", "auth_to_local = DEFAULT",
                   "auth_to_local = RULE:[1:$1@$0](^nobody@.*$)s/@.*//");
  BasicResult r = verify("alice", TestRealm::password("alice"));
  EXPECT_TRUE(is(r, Outcome::kForbidden, "no_local_name"));
  EXPECT_EQ(r.principal, "alice@GSSGATE.TEST");
  EXPECT_EQ(r.local_name, "");
  EXPECT_GT(r.ticket_end, nowSeconds());
}

TEST_F(BasicVerifierTest, ClosedKdcPortIsUnavailable) {
  const std::string kdc = kdcAddress(*realm_);
  ASSERT_NE(kdc, "");
  useConfigVariant("closed-port.conf", kdc, "127.0.0.1:" + std::to_string(closedPort()));
  auto start = std::chrono::steady_clock::now();
  BasicResult r = verify("alice", TestRealm::password("alice"));
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(is(r, Outcome::kUnavailable, "kdc_unreachable"));
  EXPECT_EQ(r.local_name, "");
  EXPECT_LT(elapsed, std::chrono::seconds(10));

  // The next request after KRB5_CONFIG is restored works again: each call reads it afresh.
  realm_->exportEnv();
  EXPECT_TRUE(is(verify("alice", TestRealm::password("alice")), Outcome::kOk, "ok"));
}

TEST_F(BasicVerifierTest, StoppedRealmIsUnavailable) {
  auto other = TestRealm::start({"alice"}, {});
  ASSERT_TRUE(other) << TestRealm::lastError();
  const std::string conf = readFile(other->env().at("KRB5_CONFIG"));
  other.reset();  // stops its KDC and removes its directory
  const std::string path = realm_->dir() + "/stopped-realm.conf";
  writeFile(path, conf);
  setenv("KRB5_CONFIG", path.c_str(), 1);
  BasicResult r = verify("alice", TestRealm::password("alice"));
  EXPECT_TRUE(is(r, Outcome::kUnavailable, "kdc_unreachable"));
}

// The point of verifying with the keytab: a KDC that is not ours (same realm name, its own
// keys, and it knows alice's password) issues alice a perfectly good TGT, but it cannot issue
// a ticket that our keytab decrypts.
TEST_F(BasicVerifierTest, RogueKdcCannotMintALogin) {
  auto rogue = TestRealm::start({"alice"}, {"HTTP/localhost"});
  ASSERT_TRUE(rogue) << TestRealm::lastError();
  ASSERT_EQ(rogue->realm(), realm_->realm());
  const std::string pw = TestRealm::password("alice");

  rogue->exportEnv();  // this process now talks to the rogue KDC
  BasicResult r = verify("alice", pw);
  EXPECT_TRUE(is(r, Outcome::kBadCredentials, "verify_failed"));
  EXPECT_EQ(r.local_name, "");
  EXPECT_EQ(r.ticket_end, 0);
  EXPECT_NE(r.detail.find("HTTP/localhost@GSSGATE.TEST"), std::string::npos) << r.detail;
  EXPECT_EQ(r.detail.find(pw), std::string::npos) << r.detail;
  std::cout << "rogue KDC refused: " << r.detail << "\n";

  // Control: the rogue KDC itself works, and a verifier holding ITS keytab would accept.
  auto rogueVerifier = BasicVerifier::create(rogue->keytab("HTTP/localhost"), "");
  ASSERT_TRUE(rogueVerifier.ok()) << rogueVerifier.status();
  EXPECT_TRUE(is((*rogueVerifier)->verify(basic("alice", pw)), Outcome::kOk, "ok"));

  // Back on the real KDC (the change applies to the next call, no restart), the roles swap.
  realm_->exportEnv();
  EXPECT_TRUE(is(verify("alice", pw), Outcome::kOk, "ok"));
  EXPECT_TRUE(
      is((*rogueVerifier)->verify(basic("alice", pw)), Outcome::kBadCredentials, "verify_failed"));
}

TEST_F(BasicVerifierTest, ConcurrentCallsAreIndependent) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 3;
  std::vector<std::vector<BasicResult>> results(kThreads);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const bool right = (t + i) % 2 == 0;
        const std::string user = t % 2 == 0 ? "alice" : "bob";
        results[t].push_back(verify(user, right ? TestRealm::password(user) : "wrong"));
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    const std::string user = t % 2 == 0 ? "alice" : "bob";
    for (int i = 0; i < kRounds; ++i) {
      const BasicResult& r = results[t][i];
      if ((t + i) % 2 == 0) {
        EXPECT_TRUE(is(r, Outcome::kOk, "ok"));
        EXPECT_EQ(r.local_name, user);
      } else {
        EXPECT_TRUE(is(r, Outcome::kBadCredentials, "bad_password"));
      }
      EXPECT_EQ(r.principal, user + "@GSSGATE.TEST");
    }
  }
}

}  // namespace
}  // namespace gssgate::proxy

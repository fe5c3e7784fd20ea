// The C++ SDK against the real thing: BrokerClient redeems proxy-deposited handles at a running
// gssgate-broker, ScopedCredential makes each redeemed ccache the calling thread's GSS default,
// and libpq connects to a GSSAPI-only PostgreSQL as that user. Two threads serving two users at
// once must never see each other's ticket.
//
// Driven by tests/integration/test_e2e_postgres.py, which starts the KDC, PostgreSQL, the broker
// and a proxy, signs alice and bob in with delegation and runs this binary with:
//   GSSGATE_TEST_BROKER         unix:/path/to/backend.sock
//   GSSGATE_TEST_HANDLE_ALICE   alice's handle (X-Gssgate-Credential)
//   GSSGATE_TEST_HANDLE_BOB     bob's handle
//   GSSGATE_TEST_CONNINFO       "host=localhost port=P dbname=postgres" (no user=)
//   KRB5_CONFIG                 the test realm's krb5.conf
//   GSSGATE_TEST_ITERATIONS     optional, default 30
// Without them every test is skipped.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <barrier>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/strings.h"
#include "gssgate/client.h"
#include "tests/realm/realm_fixture.h"

namespace {

using gssgate::client::BrokerClient;
using gssgate::client::ScopedCredential;

constexpr const char* kService = "postgres/localhost";
constexpr const char* kRealm = "GSSGATE.TEST";

struct E2eSetup {
  std::string broker;
  std::string conninfo;
  std::map<std::string, std::string> handles;  // user -> handle
  int iterations = 30;
};

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? v : nullptr;
}

std::optional<E2eSetup> setupFromEnv() {
  const char* broker = env("GSSGATE_TEST_BROKER");
  const char* alice = env("GSSGATE_TEST_HANDLE_ALICE");
  const char* bob = env("GSSGATE_TEST_HANDLE_BOB");
  const char* conninfo = env("GSSGATE_TEST_CONNINFO");
  if (broker == nullptr || alice == nullptr || bob == nullptr || conninfo == nullptr ||
      env("KRB5_CONFIG") == nullptr) {
    return std::nullopt;
  }
  E2eSetup s{broker, conninfo, {{"alice", alice}, {"bob", bob}}};
  if (const char* n = env("GSSGATE_TEST_ITERATIONS")) {
    s.iterations = static_cast<int>(std::strtol(n, nullptr, 10));
  }
  return s;
}

// Connects with `conninfo` and returns current_user, or "" with the error in *error.
std::string currentUser(const std::string& conninfo, std::string* error) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  std::string user;
  if (PQstatus(conn) != CONNECTION_OK) {
    *error = PQerrorMessage(conn);
  } else {
    PGresult* res = PQexec(conn, "select current_user");
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
      user = PQgetvalue(res, 0, 0);
    } else {
      *error = PQerrorMessage(conn);
    }
    PQclear(res);
  }
  PQfinish(conn);
  while (!error->empty() && (error->back() == '\n' || error->back() == ' ')) error->pop_back();
  return user;
}

class SdkLibpqTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = setupFromEnv();
    if (!s) {
      GTEST_SKIP() << "set GSSGATE_TEST_BROKER, GSSGATE_TEST_HANDLE_ALICE, "
                      "GSSGATE_TEST_HANDLE_BOB, GSSGATE_TEST_CONNINFO and KRB5_CONFIG "
                      "(test_e2e_postgres.py does)";
    }
    setup_ = *s;
  }
  std::string conninfoFor(const std::string& user) const {
    return setup_.conninfo + " user=" + user;
  }
  E2eSetup setup_;
};

TEST_F(SdkLibpqTest, TwoThreadsTwoUsersNoCrossTalk) {
  const BrokerClient broker(setup_.broker);
  const std::vector<std::string> users = {"alice", "bob"};
  // Both threads start each iteration together, so their credentials are live at the same time.
  std::barrier sync(static_cast<std::ptrdiff_t>(users.size()));
  std::mutex mu;
  std::vector<std::string> failures;
  std::map<std::string, int> ok;
  auto fail = [&](const std::string& user, int i, const std::string& what) {
    std::lock_guard lock(mu);
    failures.push_back(gssgate::strCat(user, " #", i, ": ", what));
  };
  std::vector<std::thread> threads;
  threads.reserve(users.size());
  for (const auto& user : users) {
    threads.emplace_back([&, user] {
      const std::string expected = user + "@" + kRealm;
      for (int i = 0; i < setup_.iterations; ++i) {
        sync.arrive_and_wait();
        auto cred = broker.redeem(setup_.handles.at(user), kService);
        if (!cred.ok()) {
          fail(user, i, gssgate::strCat("redeem: ", std::string{cred.status().message()}));
          continue;
        }
        if (cred->principal != expected) {
          fail(user, i, "redeemed principal " + cred->principal);
          continue;
        }
        auto scope = ScopedCredential::create(*cred);
        if (!scope.ok()) {
          fail(user, i,
               gssgate::strCat("ScopedCredential: ", std::string{scope.status().message()}));
          continue;
        }
        if ((*scope)->principal() != expected) {
          fail(user, i, "scope principal " + (*scope)->principal());
        }
        std::string error;
        const std::string got = currentUser(conninfoFor(user), &error);
        if (got != user) {
          fail(user, i, gssgate::strCat("current_user '", got, "' (", error, ")"));
          continue;
        }
        std::lock_guard lock(mu);
        ++ok[user];
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failure(s), first: " << failures.front();
  EXPECT_EQ(ok["alice"], setup_.iterations);
  EXPECT_EQ(ok["bob"], setup_.iterations);
}

TEST_F(SdkLibpqTest, AlicesCredentialCannotLogInAsBob) {
  const BrokerClient broker(setup_.broker);
  auto cred = broker.redeem(setup_.handles.at("alice"), kService);
  ASSERT_TRUE(cred.ok()) << cred.status();
  auto scope = ScopedCredential::create(*cred);
  ASSERT_TRUE(scope.ok()) << scope.status();
  std::string error;
  EXPECT_EQ(currentUser(conninfoFor("bob"), &error), "");
  EXPECT_NE(error.find("GSSAPI authentication failed for user \"bob\""), std::string::npos)
      << error;
  error.clear();
  EXPECT_EQ(currentUser(conninfoFor("alice"), &error), "alice") << error;
}

TEST_F(SdkLibpqTest, NoScopeNoLoginAndTheScopeCleansUp) {
  const BrokerClient broker(setup_.broker);
  std::string error;
  // This process's KRB5CCNAME names no usable ccache: without a scope there is no identity.
  EXPECT_EQ(currentUser(conninfoFor("alice"), &error), "");
  EXPECT_FALSE(error.empty());
  {
    auto cred = broker.redeem(setup_.handles.at("alice"), kService);
    ASSERT_TRUE(cred.ok()) << cred.status();
    auto scope = ScopedCredential::create(*cred);
    ASSERT_TRUE(scope.ok()) << scope.status();
    error.clear();
    EXPECT_EQ(currentUser(conninfoFor("alice"), &error), "alice") << error;
  }
  error.clear();
  EXPECT_EQ(currentUser(conninfoFor("alice"), &error), "")
      << "the credential outlived its ScopedCredential";
  // Another thread never had alice's credential, even while this one holds it.
  auto cred = broker.redeem(setup_.handles.at("alice"), kService);
  ASSERT_TRUE(cred.ok()) << cred.status();
  auto scope = ScopedCredential::create(*cred);
  ASSERT_TRUE(scope.ok()) << scope.status();
  std::string other_user;
  std::string other_error;
  std::thread([&] { other_user = currentUser(conninfoFor("alice"), &other_error); }).join();
  EXPECT_EQ(other_user, "") << "a thread without a scope connected as alice";
}

TEST_F(SdkLibpqTest, BrokerRefusalsMapToStatusCodes) {
  const BrokerClient broker(setup_.broker);
  auto denied = broker.redeem(setup_.handles.at("alice"), "HTTP/localhost");
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied) << denied.status();
  std::string forged = setup_.handles.at("alice");
  forged[forged.size() / 2] = forged[forged.size() / 2] == 'A' ? 'B' : 'A';
  auto bad = broker.redeem(forged, kService);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kNotFound) << bad.status();
  EXPECT_EQ(bad.status().message().find(forged), std::string_view::npos);
  auto truncated = broker.redeem(setup_.handles.at("bob").substr(0, 20), kService);
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kNotFound) << truncated.status();
}

// The ccache file an SDK user would hand to a child process (writeCcacheFile) holds the client
// and only the service ticket: checked with klist (via the test_realm runCommand helper).
TEST_F(SdkLibpqTest, CcacheFileHoldsOnlyTheServiceTicket) {
  const BrokerClient broker(setup_.broker);
  auto cred = broker.redeem(setup_.handles.at("bob"), kService);
  ASSERT_TRUE(cred.ok()) << cred.status();
  auto path = gssgate::client::privateTempCcachePath();
  ASSERT_TRUE(path.ok()) << path.status();
  ASSERT_TRUE(gssgate::client::writeCcacheFile(cred->ccache_bytes.str(), *path).ok());
  std::string out;
  const int rc = gssgate::test::runCommand({"/usr/bin/klist", "-c", "FILE:" + *path}, {}, &out);
  (void)std::remove(path->c_str());
  (void)std::remove(path->substr(0, path->rfind('/')).c_str());
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("Default principal: bob@GSSGATE.TEST"), std::string::npos) << out;
  EXPECT_NE(out.find("postgres/localhost@GSSGATE.TEST"), std::string::npos) << out;
  EXPECT_EQ(out.find("krbtgt/"), std::string::npos) << out;
}

}  // namespace

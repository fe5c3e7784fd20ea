#include "gssgate/broker_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/strings.h"
#include "tests/unit/client/fake_broker_server.h"

namespace gssgate::client {
namespace {

using gssgate::testing::FakeBrokerServer;
using std::chrono::milliseconds;

class BrokerClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.started()); }
  FakeBrokerServer server_;
};

TEST_F(BrokerClientTest, RedeemReturnsTheCcacheAndPassesTheRequest) {
  const BrokerClient client(server_.address());
  absl::StatusOr<RedeemedCredential> cred =
      client.redeem(FakeBrokerServer::kGoodHandle, FakeBrokerServer::kService);
  ASSERT_TRUE(cred.ok()) << cred.status();
  EXPECT_EQ(cred->ccache_bytes.str(), std::string("CCACHE-BYTES\x05\x04"));
  EXPECT_EQ(cred->principal, "alice@TEST");
  EXPECT_EQ(cred->expires_at.time_since_epoch().count(), FakeBrokerServer::kExpiresAt);
  EXPECT_EQ(server_.lastHandle(), FakeBrokerServer::kGoodHandle);
  EXPECT_EQ(server_.lastService(), FakeBrokerServer::kService);
}

TEST_F(BrokerClientTest, NotFoundKeepsTheBrokersCodeAndMessage) {
  const BrokerClient client(server_.address());
  const std::string handle = "some-unknown-handle-value";
  auto cred = client.redeem(handle, FakeBrokerServer::kService);
  ASSERT_FALSE(cred.ok());
  EXPECT_EQ(cred.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(messageOf(cred.status()), FakeBrokerServer::kNotFoundMessage);
  EXPECT_EQ(messageOf(cred.status()).find(handle), std::string::npos);
}

TEST_F(BrokerClientTest, PermissionDeniedKeepsTheBrokersMessage) {
  const BrokerClient client(server_.address());
  auto cred = client.redeem(FakeBrokerServer::kGoodHandle, "postgres/x");
  ASSERT_FALSE(cred.ok());
  EXPECT_EQ(cred.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(messageOf(cred.status()), FakeBrokerServer::kDeniedMessage);
}

TEST_F(BrokerClientTest, UnavailableFromAReachableBrokerKeepsItsMessage) {
  const BrokerClient client(server_.address());
  auto cred = client.redeem(FakeBrokerServer::kKdcDownHandle, FakeBrokerServer::kService);
  ASSERT_FALSE(cred.ok());
  EXPECT_EQ(cred.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(messageOf(cred.status()), FakeBrokerServer::kKdcDownMessage);
}

TEST_F(BrokerClientTest, AnEmptyCcacheIsAnError) {
  const BrokerClient client(server_.address());
  auto cred = client.redeem(FakeBrokerServer::kEmptyHandle, FakeBrokerServer::kService);
  ASSERT_FALSE(cred.ok());
  EXPECT_EQ(cred.status().code(), absl::StatusCode::kInternal);
}

TEST_F(BrokerClientTest, EveryCallHasADeadline) {
  const BrokerClient client(server_.address(), milliseconds(300));
  EXPECT_EQ(client.deadline(), milliseconds(300));
  const auto start = std::chrono::steady_clock::now();
  auto cred = client.redeem(FakeBrokerServer::kSlowHandle, FakeBrokerServer::kService);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(cred.ok());
  EXPECT_EQ(cred.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(messageOf(cred.status()),
            strCat("broker at ", server_.address(), " did not answer within 300 ms"));
  EXPECT_GE(elapsed, milliseconds(250));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST_F(BrokerClientTest, TheDefaultDeadlineIsFiveSeconds) {
  EXPECT_EQ(BrokerClient(server_.address()).deadline(), std::chrono::seconds(5));
}

TEST_F(BrokerClientTest, RevokeSendsTheHandle) {
  const BrokerClient client(server_.address());
  EXPECT_TRUE(client.revoke("handle-to-revoke").ok());
  EXPECT_EQ(server_.lastHandle(), "handle-to-revoke");
}

TEST_F(BrokerClientTest, ListConvertsEveryEntry) {
  const BrokerClient client(server_.address());
  auto creds = client.list();
  ASSERT_TRUE(creds.ok()) << creds.status();
  ASSERT_EQ(creds->size(), 2U);
  EXPECT_EQ((*creds)[0].credential_id, "cred-a");
  EXPECT_EQ((*creds)[0].principal, "alice@TEST");
  EXPECT_EQ((*creds)[0].deposited_at.time_since_epoch().count(), 1700000000);
  EXPECT_EQ((*creds)[0].expires_at.time_since_epoch().count(), 1700036000);
  EXPECT_EQ((*creds)[0].redemptions, 3U);
  EXPECT_EQ((*creds)[1].credential_id, "cred-bb");
}

TEST_F(BrokerClientTest, RevokeCredentialById) {
  const BrokerClient client(server_.address());
  EXPECT_TRUE(client.revokeCredential("cred-a").ok());
  EXPECT_EQ(server_.lastCredentialId(), "cred-a");
  const absl::Status missing = client.revokeCredential("cred-zzz");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(messageOf(missing), "no stored credential with that id");
}

TEST_F(BrokerClientTest, HealthReflectsTheServingStatus) {
  const BrokerClient client(server_.address());
  auto status = client.health();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, ServingStatus::kServing);
  server_.setServing(false);
  status = client.health();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, ServingStatus::kNotServing);
  EXPECT_EQ(servingStatusName(*status), "NOT_SERVING");
}

TEST_F(BrokerClientTest, HealthOfAnUnknownServiceIsServiceUnknown) {
  const BrokerClient client(server_.address());
  auto status = client.health("no.such.Service");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, ServingStatus::kServiceUnknown);
}

TEST_F(BrokerClientTest, CopiesShareTheChannelAndWorkFromManyThreads) {
  const BrokerClient client(server_.address());
  std::vector<std::thread> threads;
  threads.reserve(4);
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([copy = client, &ok] {
      for (int i = 0; i < 25; ++i) {
        if (copy.redeem(FakeBrokerServer::kGoodHandle, FakeBrokerServer::kService).ok()) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 100);
}

TEST(BrokerClientAdminTest, AdminCallsOnTheBackendSocketSayWhichSocketIsNeeded) {
  const FakeBrokerServer backend_only(/*with_admin=*/false);
  ASSERT_TRUE(backend_only.started());
  auto creds = BrokerClient(backend_only.address()).list();
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(messageOf(creds.status()).find("deposit_listen"), std::string::npos) << creds.status();
}

class UnreachableBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/gssgate-client-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    ::unlink((dir_ + "/stale.sock").c_str());
    ::rmdir(dir_.c_str());
  }
  std::string dir_;
};

TEST_F(UnreachableBrokerTest, NoSocketIsUnavailableWithTheReason) {
  const std::string address = "unix:" + dir_ + "/absent.sock";
  const BrokerClient client(address);
  const auto start = std::chrono::steady_clock::now();
  auto cred = client.redeem("h", "postgres/db");
  ASSERT_FALSE(cred.ok());
  EXPECT_EQ(cred.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(messageOf(cred.status()),
            strCat("broker unreachable at ", address, " (No such file or directory)"));
  // Fails fast rather than waiting out the deadline.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  // The same for every method.
  EXPECT_EQ(client.revoke("h").code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(client.list().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(client.health().status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(UnreachableBrokerTest, AStaleSocketFileIsConnectionRefused) {
  const std::string path = dir_ + "/stale.sock";
  {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(&addr.sun_path[0], path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);  // NOLINT
    ::close(fd);  // the file stays; nobody listens
  }
  auto cred = BrokerClient("unix:" + path).redeem("h", "postgres/db");
  ASSERT_FALSE(cred.ok());
  EXPECT_EQ(cred.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(messageOf(cred.status()),
            strCat("broker unreachable at unix:", path, " (Connection refused)"));
}

TEST(BrokerClientAddressTest, OnlyUnixAddressesAreAccepted) {
  for (const char* bad : {"", "/run/broker.sock", "dns:localhost:1234", "unix:", "unix://x/y"}) {
    const BrokerClient client(bad);
    const absl::Status st = client.revoke("h");
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(messageOf(st).find("unix:/path"), std::string::npos) << bad;
  }
}

TEST(BrokerClientAddressTest, TheUriFormWithThreeSlashesWorks) {
  const FakeBrokerServer server;
  ASSERT_TRUE(server.started());
  const std::string path = server.address().substr(5);  // drop "unix:"
  auto cred = BrokerClient("unix://" + path)
                  .redeem(FakeBrokerServer::kGoodHandle, FakeBrokerServer::kService);
  EXPECT_TRUE(cred.ok()) << cred.status();
}

}  // namespace
}  // namespace gssgate::client

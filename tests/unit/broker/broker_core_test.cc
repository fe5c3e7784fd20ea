#include "broker/broker_core.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>  // mkdtemp
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "common/aead.h"
#include "common/handle_codec.h"
#include "common/strings.h"
#include "tests/unit/broker/test_credentials.h"

namespace gssgate::broker {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr uint32_t kKeyId = 0x01020304;
constexpr uid_t kAppUid = 1000;

PeerCred peer(uid_t uid) {
  PeerCred p;
  p.pid = 4242;
  p.uid = uid;
  p.gid = uid;
  return p;
}

// Policy: uid 1000 may have postgres/*; nobody else anything.
std::shared_ptr<BrokerConfig> testConfig() {
  auto cfg = std::make_shared<BrokerConfig>();
  cfg->backend.path = "/run/test/broker.sock";
  cfg->deposit.path = "/run/test/deposit.sock";
  PolicyEntry e;
  e.uid = kAppUid;
  e.services = {"postgres/*"};
  cfg->policy.push_back(e);
  cfg->handle_ttl = 5min;
  return cfg;
}

class BrokerCoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(threadKrb5Context(), nullptr); }

  // A core over a MemoryStore of `max` entries (kept in store_ for inspection).
  BrokerCore& makeCore(std::shared_ptr<const BrokerConfig> cfg = testConfig(), size_t max = 100) {
    auto store = std::make_unique<MemoryStore>(max);
    store_ = store.get();
    HandleKey key;
    key.id = kKeyId;
    key.key = Aead::randomKey();
    core_ = std::make_unique<BrokerCore>(std::move(cfg), std::move(store), std::move(key));
    return *core_;
  }

  HandleCodec codec() const { return {core_->handleKey().id, core_->handleKey().key.str()}; }

  DepositResult depositAlice() {
    auto d = core_->deposit(peer(0), "alice@TEST.REALM", test::marshaledTgt());
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : DepositResult{};
  }

  MemoryStore* store_ = nullptr;
  std::unique_ptr<BrokerCore> core_;
};

TEST_F(BrokerCoreTest, DepositStoresTheCredentialAndReturnsARedeemableHandle) {
  BrokerCore& core = makeCore();
  const int64_t before = test::nowSeconds();
  const int64_t tgtEnd = before + int64_t{10} * 3600;
  const std::string tgt = test::marshaledTgt("alice@TEST.REALM", tgtEnd);
  auto d = core.deposit(peer(0), "alice@TEST.REALM", tgt);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->credential_id.size(), HandleCodec::kCredentialIdBytes);
  EXPECT_EQ(d->expires_at, tgtEnd);
  EXPECT_TRUE(d->handle.starts_with("gsh1."));
  EXPECT_EQ(HandleCodec::peekKeyId(d->handle), kKeyId);

  auto claims = codec().open(d->handle, test::nowSeconds());
  ASSERT_TRUE(claims.has_value());
  EXPECT_EQ(claims->credential_id, d->credential_id);
  EXPECT_EQ(claims->principal, "alice@TEST.REALM");
  // The handle lives handle_ttl, not as long as the TGT.
  EXPECT_GE(claims->expires_at, before + 300);
  EXPECT_LE(claims->expires_at, test::nowSeconds() + 300);

  EXPECT_EQ(core.stored(), 1U);
  auto stored = store_->find(d->credential_id);
  ASSERT_NE(stored, nullptr);
  EXPECT_EQ(stored->principal, "alice@TEST.REALM");
  EXPECT_EQ(stored->tgt.str(), tgt);
  EXPECT_EQ(stored->expires_at, tgtEnd);
  EXPECT_EQ(core.list().size(), 1U);
  EXPECT_EQ(core.counters().deposits_ok.load(), 1U);
}

TEST_F(BrokerCoreTest, HandleNeverOutlivesTheTgt) {
  BrokerCore& core = makeCore();
  const int64_t tgtEnd = test::nowSeconds() + 60;  // shorter than handle_ttl
  auto d =
      core.deposit(peer(0), "alice@TEST.REALM", test::marshaledTgt("alice@TEST.REALM", tgtEnd));
  ASSERT_TRUE(d.ok()) << d.status();
  auto claims = codec().open(d->handle, test::nowSeconds());
  ASSERT_TRUE(claims.has_value());
  EXPECT_EQ(claims->expires_at, tgtEnd);
}

TEST_F(BrokerCoreTest, MaxCredentialLifetimeCapsTheStoredCredential) {
  auto cfg = testConfig();
  cfg->max_credential_lifetime = 1h;
  BrokerCore& core = makeCore(cfg);
  auto d = core.deposit(peer(0), "alice@TEST.REALM", test::marshaledTgt());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_LE(d->expires_at, test::nowSeconds() + 3600);
  EXPECT_GE(d->expires_at, test::nowSeconds() + 3600 - 5);
}

TEST_F(BrokerCoreTest, DepositRefusals) {
  BrokerCore& core = makeCore();
  auto d = core.deposit(peer(0), "bob@TEST.REALM", test::marshaledTgt());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  d = core.deposit(peer(0), "alice@TEST.REALM", "garbage");
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  d = core.deposit(peer(0), "alice@TEST.REALM", "");
  EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(core.stored(), 0U);
  EXPECT_EQ(core.counters().deposits_refused.load(), 3U);
  EXPECT_EQ(core.counters().deposits_ok.load(), 0U);
}

TEST_F(BrokerCoreTest, FullStoreRefusesDeposits) {
  BrokerCore& core = makeCore(testConfig(), /*max=*/1);
  depositAlice();
  auto d = core.deposit(peer(0), "alice@TEST.REALM", test::marshaledTgt());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(core.stored(), 1U);
}

// Every kind of bad handle gets the same answer, so the broker is no oracle for which part
// was wrong.
TEST_F(BrokerCoreTest, BadHandlesAreAllNotFoundWithOneMessage) {
  BrokerCore& core = makeCore();
  const DepositResult d = depositAlice();
  const int64_t now = test::nowSeconds();

  std::vector<std::pair<std::string, std::string>> bad;
  bad.emplace_back("empty", "");
  bad.emplace_back("garbage", "not a handle");
  bad.emplace_back("forged", "gsh1." + std::string(80, 'A'));
  std::string tampered = d.handle;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  bad.emplace_back("tampered", tampered);
  bad.emplace_back("expired", codec().seal({d.credential_id, "alice@TEST.REALM", now - 1}));
  HandleCodec otherKey(kKeyId, Aead::randomKey().str());
  bad.emplace_back("other key", otherKey.seal({d.credential_id, "alice@TEST.REALM", now + 60}));
  HandleCodec otherId(kKeyId + 1, core.handleKey().key.str());
  bad.emplace_back("other key id", otherId.seal({d.credential_id, "alice@TEST.REALM", now + 60}));
  bad.emplace_back("unknown credential",
                   codec().seal({randomBytes(16), "alice@TEST.REALM", now + 60}));
  bad.emplace_back("other principal", codec().seal({d.credential_id, "bob@TEST.REALM", now + 60}));

  std::set<std::string> messages;
  for (const auto& [what, handle] : bad) {
    auto r = core.redeem(peer(kAppUid), handle, "postgres/db");
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << what << ": " << r.status();
    messages.emplace(r.status().message());
  }
  EXPECT_EQ(messages.size(), 1U);
  EXPECT_EQ(core.counters().redeems_not_found.load(), bad.size());
  EXPECT_EQ(core.counters().redeems_ok.load(), 0U);
}

// Service and policy are checked before the handle: a caller that policy grants nothing, or
// that names no valid service, gets the same answer for a genuine handle as for a forged one.
TEST_F(BrokerCoreTest, DeniedCallerLearnsNothingAboutTheHandle) {
  BrokerCore& core = makeCore();
  const DepositResult d = depositAlice();
  for (const std::string& handle : {d.handle, std::string("gsh1.x"), std::string()}) {
    auto denied = core.redeem(peer(2000), handle, "postgres/db");
    EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied) << denied.status();
    auto otherService = core.redeem(peer(kAppUid), handle, "HTTP/x");
    EXPECT_EQ(otherService.status().code(), absl::StatusCode::kPermissionDenied);
    auto malformed = core.redeem(peer(kAppUid), handle, "not a service");
    EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(core.counters().redeems_not_found.load(), 0U);
}

TEST_F(BrokerCoreTest, ExpiredCredentialBehindALiveHandleIsNotFound) {
  BrokerCore& core = makeCore();
  auto expired = std::make_shared<StoredCredential>();
  expired->id = randomBytes(16);
  expired->principal = "alice@TEST.REALM";
  expired->tgt = SecretString(test::marshaledTgt());
  expired->expires_at = test::nowSeconds() - 1;
  ASSERT_TRUE(store_->put(expired).ok());
  const std::string handle =
      codec().seal({expired->id, "alice@TEST.REALM", test::nowSeconds() + 60});
  EXPECT_EQ(core.redeem(peer(kAppUid), handle, "postgres/db").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(BrokerCoreTest, PolicyDeniedServiceIsPermissionDeniedNamingTheUid) {
  BrokerCore& core = makeCore();
  const DepositResult d = depositAlice();
  auto r = core.redeem(peer(kAppUid), d.handle, "HTTP/x");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("uid 1000"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("HTTP/x"));

  r = core.redeem(peer(2000), d.handle, "postgres/db");  // allowed service, other uid
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("uid 2000"));
  EXPECT_EQ(core.counters().redeems_denied.load(), 2U);
}

TEST_F(BrokerCoreTest, HostBasedServiceNameIsNormalisedBeforePolicy) {
  BrokerCore& core = makeCore();
  const DepositResult d = depositAlice();
  auto r = core.redeem(peer(kAppUid), d.handle, "HTTP@x");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("HTTP/x"));
}

TEST_F(BrokerCoreTest, MalformedServiceIsInvalidArgument) {
  BrokerCore& core = makeCore();
  const DepositResult d = depositAlice();
  for (const char* bad : {"postgres/db@OTHER.REALM", "postgres", "postgres/db/x", "postgres/ db",
                          "postgres@db@OTHER.REALM"}) {
    auto r = core.redeem(peer(kAppUid), d.handle, bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad << ": " << r.status();
  }
}

TEST_F(BrokerCoreTest, RevokeThenRedeemIsNotFound) {
  BrokerCore& core = makeCore();
  const DepositResult d = depositAlice();
  ASSERT_TRUE(core.revoke(peer(kAppUid), d.handle).ok());
  EXPECT_EQ(core.stored(), 0U);
  EXPECT_EQ(core.counters().revocations.load(), 1U);
  auto r = core.redeem(peer(kAppUid), d.handle, "postgres/db");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  // Revoking again, or revoking garbage, is still OK (and reveals nothing).
  EXPECT_TRUE(core.revoke(peer(kAppUid), d.handle).ok());
  EXPECT_TRUE(core.revoke(peer(kAppUid), "garbage").ok());
  EXPECT_EQ(core.counters().revocations.load(), 1U);
}

TEST_F(BrokerCoreTest, AnExpiredHandleStillRevokes) {
  BrokerCore& core = makeCore();
  const DepositResult d = depositAlice();
  const std::string stale = codec().seal({d.credential_id, "alice@TEST.REALM", 1});
  ASSERT_TRUE(core.revoke(peer(kAppUid), stale).ok());
  EXPECT_EQ(core.stored(), 0U);
}

TEST_F(BrokerCoreTest, RevokeWithAHandleOfAnotherPrincipalKeepsTheCredential) {
  BrokerCore& core = makeCore();
  const DepositResult d = depositAlice();
  const std::string wrong =
      codec().seal({d.credential_id, "mallory@TEST.REALM", test::nowSeconds() + 60});
  ASSERT_TRUE(core.revoke(peer(kAppUid), wrong).ok());
  EXPECT_EQ(core.stored(), 1U);
}

TEST_F(BrokerCoreTest, RevokeCredential) {
  BrokerCore& core = makeCore();
  const DepositResult d = depositAlice();
  EXPECT_EQ(core.revokeCredential(peer(0), randomBytes(16)).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(core.revokeCredential(peer(0), "").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(core.stored(), 1U);
  EXPECT_TRUE(core.revokeCredential(peer(0), d.credential_id).ok());
  EXPECT_EQ(core.stored(), 0U);
  EXPECT_EQ(core.revokeCredential(peer(0), d.credential_id).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(core.redeem(peer(kAppUid), d.handle, "postgres/db").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(BrokerCoreTest, SweepRemovesOnlyExpiredCredentials) {
  BrokerCore& core = makeCore();
  const DepositResult live = depositAlice();
  auto expired = std::make_shared<StoredCredential>();
  expired->id = randomBytes(16);
  expired->principal = "bob@TEST.REALM";
  expired->expires_at = test::nowSeconds() - 10;
  ASSERT_TRUE(store_->put(expired).ok());
  ASSERT_EQ(core.stored(), 2U);
  EXPECT_EQ(core.sweep(), 1U);
  EXPECT_EQ(core.stored(), 1U);
  EXPECT_NE(store_->find(live.credential_id), nullptr);
  EXPECT_EQ(store_->find(expired->id), nullptr);
  EXPECT_EQ(core.counters().swept.load(), 1U);
  EXPECT_EQ(core.sweep(), 0U);
}

TEST_F(BrokerCoreTest, SetConfigAppliesToLaterCalls) {
  BrokerCore& core = makeCore();
  const DepositResult d = depositAlice();
  auto open = testConfig();
  open->policy.clear();  // nothing granted
  core.setConfig(open);
  EXPECT_EQ(core.config(), open);
  EXPECT_EQ(core.redeem(peer(kAppUid), d.handle, "postgres/db").status().code(),
            absl::StatusCode::kPermissionDenied);
}

// ---- loadHandleKey ---------------------------------------------------------------------------

class HandleKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gssgate-hkey-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string write(const std::string& bytes) {
    std::string path = (dir_ / "handle.key").string();
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(HandleKeyTest, EmptyFileNameGivesARandomKey) {
  auto a = loadHandleKey("");
  auto b = loadHandleKey("");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->key.size(), Aead::kKeyBytes);
  EXPECT_NE(a->key.str(), b->key.str());
}

TEST_F(HandleKeyTest, RawAndHexFilesGiveTheSameKeyAndId) {
  std::string raw;
  std::string hexText;
  for (int i = 0; i < 32; ++i) {
    raw += static_cast<char>(i * 7 + 1);
    hexText += fmt::format("{:02x}", i * 7 + 1);
  }
  auto fromRaw = loadHandleKey(write(raw));
  ASSERT_TRUE(fromRaw.ok()) << fromRaw.status();
  EXPECT_EQ(fromRaw->key.str(), raw);
  auto fromHex = loadHandleKey(write(hexText + "\n"));
  ASSERT_TRUE(fromHex.ok()) << fromHex.status();
  EXPECT_EQ(fromHex->key.str(), raw);
  EXPECT_EQ(fromHex->id, fromRaw->id);  // derived from the key, so proxy and broker agree
  std::string upper = hexText;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto fromUpper = loadHandleKey(write(upper));
  ASSERT_TRUE(fromUpper.ok()) << fromUpper.status();
  EXPECT_EQ(fromUpper->key.str(), raw);
}

TEST_F(HandleKeyTest, MissingFileIsFailedPrecondition) {
  EXPECT_EQ(loadHandleKey((dir_ / "absent").string()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(HandleKeyTest, WrongSizeIsInvalidArgument) {
  EXPECT_EQ(loadHandleKey(write("short")).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(loadHandleKey(write(std::string(33, 'k'))).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// 64 characters that are not all hex digits must be refused, not thrown on or half-parsed.
TEST_F(HandleKeyTest, NonHexTextIsInvalidArgument) {
  for (const std::string& bad :
       {std::string(64, 'z'), std::string(62, '0') + "zz", "0x" + std::string(62, '0'),
        " 1" + std::string(62, '0'), "-1" + std::string(62, '0'), "+1" + std::string(62, '0')}) {
    auto k = loadHandleKey(write(bad));
    EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace gssgate::broker

#include "broker/credentials/credential_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>  // mkdtemp
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/aead.h"
#include "common/strings.h"
#include "tests/unit/broker/test_credentials.h"

namespace gssgate::broker {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

std::shared_ptr<StoredCredential> credential(std::string id, int64_t expires_at,
                                             std::string principal = "alice@TEST.REALM") {
  auto c = std::make_shared<StoredCredential>();
  c->id = std::move(id);
  c->principal = std::move(principal);
  c->tgt = SecretString(std::string("tgt of ") + c->principal);
  c->deposited_at = 1;
  c->expires_at = expires_at;
  return c;
}

std::vector<std::string> ids(const std::vector<std::shared_ptr<StoredCredential>>& creds) {
  std::vector<std::string> out;
  out.reserve(creds.size());
  for (const auto& c : creds) out.push_back(c->id);
  return out;
}

std::string hex(std::string_view bytes) {
  constexpr std::string_view kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4U];
    out += kHex[c & 15U];
  }
  return out;
}

// ---- MemoryStore ---------------------------------------------------------------------------

TEST(MemoryStoreTest, PutFindRemove) {
  MemoryStore store(10);
  EXPECT_EQ(store.size(), 0U);
  EXPECT_EQ(store.find("a"), nullptr);
  ASSERT_TRUE(store.put(credential("a", 100)).ok());
  ASSERT_TRUE(store.put(credential("b", 200, "bob@TEST.REALM")).ok());
  EXPECT_EQ(store.size(), 2U);
  auto a = store.find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->principal, "alice@TEST.REALM");
  EXPECT_EQ(a->expires_at, 100);
  EXPECT_EQ(a->tgt.str(), "tgt of alice@TEST.REALM");
  EXPECT_EQ(store.find("c"), nullptr);

  EXPECT_TRUE(store.remove("a"));
  EXPECT_FALSE(store.remove("a"));
  EXPECT_EQ(store.find("a"), nullptr);
  EXPECT_EQ(store.size(), 1U);
  // A holder of a removed credential keeps a valid object.
  EXPECT_EQ(a->principal, "alice@TEST.REALM");
}

TEST(MemoryStoreTest, IdsAreBinarySafe) {
  MemoryStore store(10);
  const std::string id1("\0\x01\xff", 3);
  const std::string id2("\0\x01\xfe", 3);
  ASSERT_TRUE(store.put(credential(id1, 100)).ok());
  EXPECT_NE(store.find(id1), nullptr);
  EXPECT_EQ(store.find(id2), nullptr);
  EXPECT_EQ(store.find(std::string_view(id1.data(), 2)), nullptr);
}

TEST(MemoryStoreTest, List) {
  MemoryStore store(10);
  EXPECT_TRUE(store.list().empty());
  ASSERT_TRUE(store.put(credential("a", 100)).ok());
  ASSERT_TRUE(store.put(credential("b", 200)).ok());
  ASSERT_TRUE(store.put(credential("c", 300)).ok());
  EXPECT_THAT(ids(store.list()), UnorderedElementsAre("a", "b", "c"));
}

TEST(MemoryStoreTest, SweepRemovesExpiredAndKeepsOthers) {
  MemoryStore store(10);
  ASSERT_TRUE(store.put(credential("past", 99)).ok());
  ASSERT_TRUE(store.put(credential("now", 100)).ok());  // expires_at <= now counts as expired
  ASSERT_TRUE(store.put(credential("future", 101)).ok());
  EXPECT_EQ(store.sweep(100), 2U);
  EXPECT_THAT(ids(store.list()), UnorderedElementsAre("future"));
  EXPECT_EQ(store.sweep(100), 0U);
  EXPECT_EQ(store.find("past"), nullptr);
  EXPECT_EQ(store.find("now"), nullptr);
  EXPECT_NE(store.find("future"), nullptr);
}

TEST(MemoryStoreTest, SweepIdsNamesTheSweptCredentials) {
  MemoryStore store(10);
  ASSERT_TRUE(store.put(credential("old1", 10)).ok());
  ASSERT_TRUE(store.put(credential("old2", 20)).ok());
  ASSERT_TRUE(store.put(credential("new", 1000)).ok());
  EXPECT_THAT(store.sweepIds(500), UnorderedElementsAre("old1", "old2"));
  EXPECT_EQ(store.size(), 1U);
}

TEST(MemoryStoreTest, FullStoreIsResourceExhausted) {
  MemoryStore store(2);
  ASSERT_TRUE(store.put(credential("a", 100)).ok());
  ASSERT_TRUE(store.put(credential("b", 100)).ok());
  const absl::Status st = store.put(credential("c", 100));
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr("max_credentials"));
  EXPECT_EQ(store.find("c"), nullptr);
  EXPECT_EQ(store.size(), 2U);
  ASSERT_TRUE(store.remove("a"));
  EXPECT_TRUE(store.put(credential("c", 100)).ok());
  EXPECT_EQ(store.sweep(100), 2U);  // sweeping frees room too
  EXPECT_TRUE(store.put(credential("d", 200)).ok());
}

// Four threads put, find, list, sweep and remove their own and each other's ids at once. Every
// access to the map is under the store's mutex and the credentials are immutable once put, so
// this must be clean under TSan as well as not crash. Sweeps only ever catch the already expired
// "junk" entries, so each thread's own puts stay findable until it removes them.
TEST(MemoryStoreTest, ConcurrentPutFindRemove) {
  MemoryStore store(100'000);
  constexpr int kThreads = 4;
  constexpr int kRounds = 2000;
  constexpr int64_t kLive = 1000;  // live entries expire at kLive + round; junk at 1
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&store, &mismatches, t] {
      for (int i = 0; i < kRounds; ++i) {
        const std::string id = strCat("t", t, "-", i);
        const std::string principal = strCat("user", t, "@TEST.REALM");
        if (!store.put(credential(id, kLive + i, principal)).ok()) mismatches.fetch_add(1);
        auto mine = store.find(id);
        if (!mine || mine->principal != principal) mismatches.fetch_add(1);
        // Another thread's id of this round: it may or may not be there, but if so it is whole.
        const int other = (t + 1) % kThreads;
        if (auto theirs = store.find(strCat("t", other, "-", i))) {
          if (theirs->principal != strCat("user", other, "@TEST.REALM")) mismatches.fetch_add(1);
        }
        if (i % 2 == 0 && !store.remove(id)) mismatches.fetch_add(1);
        if (i % 10 == 0) (void)store.put(credential(strCat("junk", t, "-", i), 1));
        if (i % 97 == 0) (void)store.list();
        if (i % 101 == 0) (void)store.sweep(kLive - 1);
        (void)store.size();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
  (void)store.sweep(kLive - 1);
  // Exactly the odd rounds of every thread are left.
  EXPECT_EQ(store.size(), static_cast<size_t>(kThreads * kRounds / 2));
  for (const auto& c : store.list()) {
    EXPECT_EQ((c->expires_at - kLive) % 2, 1) << c->id;
  }
}

// ---- DirStore ------------------------------------------------------------------------------

class DirStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(threadKrb5Context(), nullptr);
    std::string tmpl = (std::filesystem::temp_directory_path() / "gssgate-store-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    parent_ = tmpl;
    dir_ = (parent_ / "creds").string();
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(parent_, ec);
  }

  // A credential as BrokerCore stores it: a marshaled hand-built TGT ending at `endtime`.
  static std::shared_ptr<StoredCredential> tgtCredential(const std::string& client,
                                                         int64_t endtime) {
    auto c = std::make_shared<StoredCredential>();
    c->id = randomBytes(16);
    c->principal = client;
    c->tgt = SecretString(test::marshaledTgt(client, endtime));
    c->deposited_at = test::nowSeconds();
    c->expires_at = endtime;
    return c;
  }

  std::string pathFor(std::string_view id) const { return dir_ + "/" + hex(id); }

  static mode_t modeOf(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777U;
  }

  static void touch(const std::string& path, const std::string& content = "leftover") {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  }

  std::filesystem::path parent_;
  std::string dir_;
};

TEST_F(DirStoreTest, OpenCreatesAPrivateDirectory) {
  auto store = DirStore::open(dir_, 10, test::nowSeconds());
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE(std::filesystem::is_directory(dir_));
  EXPECT_EQ(modeOf(dir_), 0700U);
  EXPECT_EQ((*store)->size(), 0U);
}

TEST_F(DirStoreTest, OpenAcceptsAnExistingPrivateDirectory) {
  ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
  auto store = DirStore::open(dir_, 10, test::nowSeconds());
  EXPECT_TRUE(store.ok()) << store.status();
}

TEST_F(DirStoreTest, OpenRefusesADirectoryOthersCanReach) {
  ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
  for (mode_t mode : {0755U, 0777U, 0710U, 0701U}) {
    ASSERT_EQ(::chmod(dir_.c_str(), mode), 0);
    auto store = DirStore::open(dir_, 10, test::nowSeconds());
    ASSERT_FALSE(store.ok()) << std::oct << mode;
    EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(messageOf(store.status()), HasSubstr("chmod 0700 " + dir_)) << std::oct << mode;
  }
}

TEST_F(DirStoreTest, OpenRefusesADirectoryOfAnotherUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown the directory to nobody";
  constexpr uid_t kNobody = 65534;
  ASSERT_EQ(::mkdir(dir_.c_str(), 0700), 0);
  ASSERT_EQ(::chown(dir_.c_str(), kNobody, kNobody), 0);
  auto store = DirStore::open(dir_, 10, test::nowSeconds());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(messageOf(store.status()), HasSubstr("must be owned by the broker's user"));
  EXPECT_THAT(messageOf(store.status()), HasSubstr("not uid 65534"));
}

TEST_F(DirStoreTest, OpenRefusesSomethingThatIsNotADirectory) {
  touch(dir_);
  EXPECT_FALSE(DirStore::open(dir_, 10, test::nowSeconds()).ok());
  std::filesystem::remove(dir_);
  const std::string target = (parent_ / "real").string();
  ASSERT_EQ(::mkdir(target.c_str(), 0700), 0);
  std::filesystem::create_directory_symlink(target, dir_);
  EXPECT_FALSE(DirStore::open(dir_, 10, test::nowSeconds()).ok());  // a symlink is not trusted
}

TEST_F(DirStoreTest, PutWritesAPrivateCcacheFile) {
  auto store = DirStore::open(dir_, 10, test::nowSeconds());
  ASSERT_TRUE(store.ok()) << store.status();
  auto cred = tgtCredential("alice@TEST.REALM", test::nowSeconds() + 3600);
  const std::string id = cred->id;
  ASSERT_TRUE((*store)->put(cred).ok());
  const std::string path = pathFor(id);
  ASSERT_TRUE(std::filesystem::is_regular_file(path)) << path;
  EXPECT_EQ(modeOf(path), 0600U);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  ASSERT_NE((*store)->find(id), nullptr);
  EXPECT_EQ((*store)->find(id)->principal, "alice@TEST.REALM");
  // What klist would read: a v4 FILE ccache.
  std::ifstream in(path, std::ios::binary);
  std::string head(2, '\0');
  in.read(head.data(), 2);
  EXPECT_EQ(head, std::string("\x05\x04", 2));
}

TEST_F(DirStoreTest, PutOfAnUnreadableCredentialFails) {
  auto store = DirStore::open(dir_, 10, test::nowSeconds());
  ASSERT_TRUE(store.ok()) << store.status();
  auto cred = credential(randomBytes(16), test::nowSeconds() + 3600);  // tgt is not krb5_creds
  EXPECT_FALSE((*store)->put(cred).ok());
  EXPECT_EQ((*store)->size(), 0U);
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

TEST_F(DirStoreTest, FullDirStoreLeavesNoFile) {
  auto store = DirStore::open(dir_, 1, test::nowSeconds());
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->put(tgtCredential("alice@TEST.REALM", test::nowSeconds() + 3600)).ok());
  auto second = tgtCredential("bob@TEST.REALM", test::nowSeconds() + 3600);
  EXPECT_EQ((*store)->put(second).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(std::filesystem::exists(pathFor(second->id)));
}

TEST_F(DirStoreTest, ReopenLoadsCredentialsBack) {
  const int64_t now = test::nowSeconds();
  auto alice = tgtCredential("alice@TEST.REALM", now + 3600);
  auto bob = tgtCredential("bob@TEST.REALM", now + 7200);
  {
    auto store = DirStore::open(dir_, 10, now);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->put(alice).ok());
    ASSERT_TRUE((*store)->put(bob).ok());
  }
  auto store = DirStore::open(dir_, 10, now);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->size(), 2U);
  for (const auto& want : {alice, bob}) {
    auto got = (*store)->find(want->id);
    ASSERT_NE(got, nullptr) << want->principal;
    EXPECT_EQ(got->id, want->id);
    EXPECT_EQ(got->principal, want->principal);
    EXPECT_EQ(got->expires_at, want->expires_at);
    EXPECT_EQ(got->tgt.str(), want->tgt.str());  // the same marshaled TGT, byte for byte
  }
}

TEST_F(DirStoreTest, OpenDeletesExpiredFilesAndTmpLeftovers) {
  const int64_t now = test::nowSeconds();
  auto shortLived = tgtCredential("alice@TEST.REALM", now + 60);
  auto longLived = tgtCredential("bob@TEST.REALM", now + 7200);
  {
    auto store = DirStore::open(dir_, 10, now);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->put(shortLived).ok());
    ASSERT_TRUE((*store)->put(longLived).ok());
  }
  const std::string interrupted = pathFor(randomBytes(16)) + ".tmp";
  touch(interrupted);
  touch(dir_ + "/other.tmp");
  const std::string corrupt = pathFor(randomBytes(16));
  touch(corrupt, "not a ccache");
  const std::string unrelated = dir_ + "/README";
  touch(unrelated);

  auto store = DirStore::open(dir_, 10, now + 120);  // two minutes later
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->size(), 1U);
  EXPECT_EQ((*store)->find(shortLived->id), nullptr);
  EXPECT_NE((*store)->find(longLived->id), nullptr);
  EXPECT_FALSE(std::filesystem::exists(pathFor(shortLived->id)));
  EXPECT_TRUE(std::filesystem::exists(pathFor(longLived->id)));
  EXPECT_FALSE(std::filesystem::exists(interrupted));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/other.tmp"));
  EXPECT_FALSE(std::filesystem::exists(corrupt));
  EXPECT_TRUE(std::filesystem::exists(unrelated));  // not ours: left alone
}

TEST_F(DirStoreTest, RemoveUnlinksTheFile) {
  auto store = DirStore::open(dir_, 10, test::nowSeconds());
  ASSERT_TRUE(store.ok()) << store.status();
  auto cred = tgtCredential("alice@TEST.REALM", test::nowSeconds() + 3600);
  ASSERT_TRUE((*store)->put(cred).ok());
  ASSERT_TRUE(std::filesystem::exists(pathFor(cred->id)));
  EXPECT_TRUE((*store)->remove(cred->id));
  EXPECT_FALSE(std::filesystem::exists(pathFor(cred->id)));
  EXPECT_EQ((*store)->find(cred->id), nullptr);
  EXPECT_FALSE((*store)->remove(cred->id));
}

TEST_F(DirStoreTest, SweepUnlinksExpiredFiles) {
  const int64_t now = test::nowSeconds();
  auto store = DirStore::open(dir_, 10, now);
  ASSERT_TRUE(store.ok()) << store.status();
  auto shortLived = tgtCredential("alice@TEST.REALM", now + 60);
  auto longLived = tgtCredential("bob@TEST.REALM", now + 7200);
  ASSERT_TRUE((*store)->put(shortLived).ok());
  ASSERT_TRUE((*store)->put(longLived).ok());
  EXPECT_EQ((*store)->sweep(now + 120), 1U);
  EXPECT_FALSE(std::filesystem::exists(pathFor(shortLived->id)));
  EXPECT_TRUE(std::filesystem::exists(pathFor(longLived->id)));
  EXPECT_THAT(ids((*store)->list()), UnorderedElementsAre(longLived->id));
}

}  // namespace
}  // namespace gssgate::broker

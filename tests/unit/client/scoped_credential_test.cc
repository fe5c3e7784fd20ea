#include "gssgate/scoped_credential.h"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <string>
#include <thread>
#include <utility>

#include "common/gss_error.h"
#include "common/gss_handles.h"
#include "common/krb5_handles.h"
#include "common/strings.h"
#include "tests/unit/client/fake_ccache.h"
#include "tests/unit/common/hermetic_krb5.h"

namespace gssgate::client {
namespace {

// The hermetic process default (KRB5CCNAME), filled with carol's credential per test.
constexpr const char* kProcessDefault = "MEMORY:gssgate-unit-default";

// Whom GSS-API in this thread would authenticate as: the initiator credential acquired with
// no name (the default ccache), as libpq does. "<error: ...>" when there is none.
std::string initiatorName() {
  OM_uint32 minor = 0;
  GssCred cred;
  OM_uint32 major = gss_acquire_cred(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, GSS_C_NO_OID_SET,
                                     GSS_C_INITIATE, cred.out(), nullptr, nullptr);
  if (GSS_ERROR(major)) return "<error: " + gssErrorMessage(major, minor) + ">";
  GssName name;
  major = gss_inquire_cred(&minor, cred.get(), name.out(), nullptr, nullptr, nullptr);
  if (GSS_ERROR(major)) return "<error: " + gssErrorMessage(major, minor) + ">";
  GssBuffer text;
  major = gss_display_name(&minor, name.get(), text.out(), nullptr);
  if (GSS_ERROR(major)) return "<error: " + gssErrorMessage(major, minor) + ">";
  return text.str();
}

// Fills the named ccache with a credential for `client`.
void fillCcache(const char* name, const std::string& client) {
  auto ctx = Krb5Context::create();
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  Krb5Ccache cc(ctx->get());
  ASSERT_EQ(krb5_cc_resolve(ctx->get(), name, cc.out()), 0);
  ASSERT_TRUE(
      gssgate::testing::storeFakeCredential(ctx->get(), cc.get(), client, "postgres/db@TEST").ok());
}

void destroyCcache(const char* name) {
  auto ctx = Krb5Context::create();
  ASSERT_TRUE(ctx.ok());
  krb5_ccache cc = nullptr;
  if (krb5_cc_resolve(ctx->get(), name, &cc) == 0) krb5_cc_destroy(ctx->get(), cc);
}

// True if a MEMORY ccache of this name still holds credentials.
bool ccacheHasPrincipal(const std::string& name) {
  auto ctx = Krb5Context::create();
  if (!ctx.ok()) return false;
  Krb5Ccache cc(ctx->get());
  if (krb5_cc_resolve(ctx->get(), name.c_str(), cc.out()) != 0) return false;
  Krb5Principal princ(ctx->get());
  const bool has = krb5_cc_get_principal(ctx->get(), cc.get(), princ.out()) == 0;
  // Resolving a MEMORY name that does not exist creates it, empty: remove it again.
  if (!has) krb5_cc_destroy(ctx->get(), cc.release());
  return has;
}

class ScopedCredentialTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    gssgate::testing::useHermeticKrb5();
    alice_ = new std::string(*gssgate::testing::fakeCcacheBytes("alice@TEST", "postgres/db@TEST"));
    bob_ = new std::string(*gssgate::testing::fakeCcacheBytes("bob@TEST", "postgres/db@TEST"));
  }
  static void TearDownTestSuite() {
    delete alice_;
    delete bob_;
    alice_ = bob_ = nullptr;
  }
  void SetUp() override { fillCcache(kProcessDefault, "carol@TEST"); }
  void TearDown() override { destroyCcache(kProcessDefault); }

  static std::string* alice_;
  static std::string* bob_;
};
std::string* ScopedCredentialTest::alice_ = nullptr;
std::string* ScopedCredentialTest::bob_ = nullptr;

TEST_F(ScopedCredentialTest, TheHandBuiltCcacheIsInFileFormat) {
  ASSERT_GE(alice_->size(), 2U);
  EXPECT_EQ((*alice_)[0], '\x05');
  EXPECT_EQ((*alice_)[1], '\x04');
}

TEST_F(ScopedCredentialTest, InsideTheScopeThisThreadIsTheUser) {
  EXPECT_EQ(initiatorName(), "carol@TEST");
  {
    auto scope = ScopedCredential::create(*alice_);
    ASSERT_TRUE(scope.ok()) << scope.status();
    EXPECT_EQ((*scope)->principal(), "alice@TEST");
    EXPECT_TRUE((*scope)->ccacheName().starts_with("MEMORY:")) << (*scope)->ccacheName();
    EXPECT_EQ(initiatorName(), "alice@TEST");
  }
  EXPECT_EQ(initiatorName(), "carol@TEST");
}

TEST_F(ScopedCredentialTest, ReadsTheBrokersSerialisation) {
  auto bytes = gssgate::testing::brokerStyleCcacheBytes("erin@TEST", "postgres/db@TEST");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto scope = ScopedCredential::create(*bytes);
  ASSERT_TRUE(scope.ok()) << scope.status();
  EXPECT_EQ((*scope)->principal(), "erin@TEST");
  EXPECT_EQ(initiatorName(), "erin@TEST");
}

TEST_F(ScopedCredentialTest, TheServiceTicketIsUsableWithoutAKdc) {
  auto scope = ScopedCredential::create(*alice_);
  ASSERT_TRUE(scope.ok()) << scope.status();
  // What libpq does: a context to the service with the default credential. The ticket comes
  // from the cache, so no KDC is asked; the AP-REQ is built with the (dummy) session key.
  OM_uint32 minor = 0;
  GssName target;
  gss_buffer_desc name = gssInputBuffer("postgres/db@TEST");
  ASSERT_EQ(gss_import_name(&minor, &name, GSS_KRB5_NT_PRINCIPAL_NAME, target.out()),
            GSS_S_COMPLETE);
  GssContext ctx;
  GssBuffer token;
  const OM_uint32 major = gss_init_sec_context(
      &minor, GSS_C_NO_CREDENTIAL, ctx.inout(), target.get(), GSS_C_NO_OID, 0, 0,
      GSS_C_NO_CHANNEL_BINDINGS, GSS_C_NO_BUFFER, nullptr, token.out(), nullptr, nullptr);
  EXPECT_FALSE(GSS_ERROR(major)) << gssErrorMessage(major, minor);
  EXPECT_FALSE(token.empty());
}

TEST_F(ScopedCredentialTest, TheMemoryCcacheIsDestroyedWithTheScope) {
  std::string name;
  {
    auto scope = ScopedCredential::create(*alice_);
    ASSERT_TRUE(scope.ok()) << scope.status();
    name = (*scope)->ccacheName();
    EXPECT_TRUE(ccacheHasPrincipal(name));
  }
  EXPECT_FALSE(ccacheHasPrincipal(name));
}

TEST_F(ScopedCredentialTest, RestoresAnExplicitPreviousThreadDefault) {
  fillCcache("MEMORY:scoped-test-explicit", "dave@TEST");
  OM_uint32 minor = 0;
  ASSERT_EQ(gss_krb5_ccache_name(&minor, "MEMORY:scoped-test-explicit", nullptr), GSS_S_COMPLETE);
  EXPECT_EQ(initiatorName(), "dave@TEST");
  {
    auto scope = ScopedCredential::create(*alice_);
    ASSERT_TRUE(scope.ok()) << scope.status();
    EXPECT_EQ(initiatorName(), "alice@TEST");
  }
  EXPECT_EQ(initiatorName(), "dave@TEST");
  ASSERT_EQ(gss_krb5_ccache_name(&minor, nullptr, nullptr), GSS_S_COMPLETE);
  EXPECT_EQ(initiatorName(), "carol@TEST");
  destroyCcache("MEMORY:scoped-test-explicit");
}

TEST_F(ScopedCredentialTest, NestedScopesUnwindInOrder) {
  auto outer = ScopedCredential::create(*alice_);
  ASSERT_TRUE(outer.ok()) << outer.status();
  {
    auto inner = ScopedCredential::create(*bob_);
    ASSERT_TRUE(inner.ok()) << inner.status();
    EXPECT_EQ(initiatorName(), "bob@TEST");
  }
  EXPECT_EQ(initiatorName(), "alice@TEST");
  outer->reset();
  EXPECT_EQ(initiatorName(), "carol@TEST");
}

TEST_F(ScopedCredentialTest, TwoThreadsEachSeeTheirOwnUserConcurrently) {
  constexpr int kRounds = 200;
  std::atomic<int> wrong{0};
  std::atomic<int> failed{0};
  std::latch start(2);
  auto worker = [&](const std::string& bytes, const std::string& who) {
    start.arrive_and_wait();
    for (int i = 0; i < kRounds; ++i) {
      auto scope = ScopedCredential::create(bytes);
      if (!scope.ok()) {
        ++failed;
        continue;
      }
      if (initiatorName() != who || (*scope)->principal() != who) ++wrong;
      std::this_thread::yield();
      if (initiatorName() != who) ++wrong;
    }
  };
  std::thread a(worker, std::cref(*alice_), "alice@TEST");
  std::thread b(worker, std::cref(*bob_), "bob@TEST");
  a.join();
  b.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(initiatorName(), "carol@TEST");  // this thread never changed
}

TEST_F(ScopedCredentialTest, AnotherThreadsScopeDoesNotChangeThisThread) {
  std::latch entered(1);
  std::latch release(1);
  std::thread t([&] {
    auto scope = ScopedCredential::create(*alice_);
    entered.count_down();
    release.wait();
  });
  entered.wait();
  EXPECT_EQ(initiatorName(), "carol@TEST");
  release.count_down();
  t.join();
}

TEST_F(ScopedCredentialTest, WorksFromARedeemedCredential) {
  RedeemedCredential cred;
  cred.ccache_bytes = SecretString(std::string(*bob_));
  cred.principal = "bob@TEST";
  auto scope = ScopedCredential::create(cred);
  ASSERT_TRUE(scope.ok()) << scope.status();
  EXPECT_EQ(initiatorName(), "bob@TEST");
}

TEST_F(ScopedCredentialTest, GarbageIsRejectedAndChangesNothing) {
  for (const std::string& bad :
       {std::string(), std::string("not a ccache"), std::string("\x05\x04\x00\x00", 4),
        alice_->substr(0, alice_->size() / 2)}) {
    auto scope = ScopedCredential::create(bad);
    if (bad.size() == alice_->size() / 2 && scope.ok()) {
      // A truncated cache may still hold its principal; what matters is no crash and cleanup.
      continue;
    }
    ASSERT_FALSE(scope.ok()) << bad.size();
    EXPECT_EQ(scope.status().code(), absl::StatusCode::kInvalidArgument) << scope.status();
    EXPECT_EQ(initiatorName(), "carol@TEST");
  }
}

TEST_F(ScopedCredentialTest, DestroyedOnAnotherThreadItStillDestroysTheCache) {
  std::unique_ptr<ScopedCredential> moved;
  std::string name;
  std::thread t([&] {
    auto scope = ScopedCredential::create(*alice_);
    if (scope.ok()) {
      name = (*scope)->ccacheName();
      moved = std::move(*scope);
    }
  });
  t.join();
  ASSERT_NE(moved, nullptr);
  moved.reset();  // on the wrong thread: cannot restore there, must not touch this thread
  EXPECT_FALSE(ccacheHasPrincipal(name));
  EXPECT_EQ(initiatorName(), "carol@TEST");
}

}  // namespace
}  // namespace gssgate::client

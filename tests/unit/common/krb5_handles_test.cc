#include "common/krb5_handles.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>

#include "tests/unit/common/hermetic_krb5.h"

namespace gssgate {
namespace {

class Krb5HandlesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { testing::useHermeticKrb5(); }

  void SetUp() override {
    auto ctx = Krb5Context::create();
    ASSERT_TRUE(ctx.ok()) << ctx.status();
    ctx_.emplace(*std::move(ctx));
  }

  krb5_context ctx() const { return ctx_->get(); }

  Krb5Principal parse(const char* name) const {
    Krb5Principal p(ctx());
    EXPECT_EQ(krb5_parse_name(ctx(), name, p.out()), 0);
    return p;
  }

  std::string unparse(const Krb5Principal& p) const {
    Krb5String s(ctx());
    if (krb5_unparse_name(ctx(), p.get(), s.out()) != 0) return "?";
    return s.get();
  }

  // The full name ("MEMORY:xyz") of `cc`, to resolve it again later.
  std::string fullName(krb5_ccache cc) const {
    Krb5String s(ctx());
    if (krb5_cc_get_full_name(ctx(), cc, s.out()) != 0) return "?";
    return s.get();
  }

  // Whether the MEMORY cache called `name` still exists and holds a principal.
  bool cacheHoldsPrincipal(const std::string& name) const {
    Krb5Ccache cc(ctx());
    if (krb5_cc_resolve(ctx(), name.c_str(), cc.out()) != 0) return false;
    Krb5Principal p(ctx());
    return krb5_cc_get_principal(ctx(), cc.get(), p.out()) == 0;
  }

  std::optional<Krb5Context> ctx_;
};

TEST_F(Krb5HandlesTest, ContextMovesOwnership) {
  krb5_context raw = ctx();
  ASSERT_NE(raw, nullptr);
  Krb5Context moved(std::move(*ctx_));
  EXPECT_EQ(ctx_->get(), nullptr);
  EXPECT_EQ(moved.get(), raw);
  Krb5Context assigned = std::move(moved);
  EXPECT_EQ(assigned.get(), raw);
  EXPECT_EQ(moved.get(), nullptr);
  *ctx_ = std::move(assigned);  // hand it back for the fixture
  EXPECT_EQ(ctx(), raw);
}

TEST_F(Krb5HandlesTest, ErrorMessageIsReadable) {
  EXPECT_EQ(krb5ErrorMessage(ctx(), KRB5KRB_AP_ERR_SKEW), "Clock skew too great");
  EXPECT_EQ(krb5ErrorMessage(ctx(), KRB5_KT_NOTFOUND), "Key table entry not found");
  // Without a context too (krb5's error tables are registered by now).
  EXPECT_EQ(krb5ErrorMessage(nullptr, KRB5KRB_AP_ERR_SKEW), "Clock skew too great");
}

TEST_F(Krb5HandlesTest, PrincipalOwnerParsesAndMoves) {
  Krb5Principal p = parse("alice@EXAMPLE.COM");
  ASSERT_TRUE(p);
  EXPECT_EQ(unparse(p), "alice@EXAMPLE.COM");
  krb5_principal raw = p.get();
  Krb5Principal moved(std::move(p));
  EXPECT_FALSE(p);
  EXPECT_EQ(moved.get(), raw);

  Krb5Principal other = parse("bob@EXAMPLE.COM");
  other = std::move(moved);  // frees bob's principal, takes alice's
  EXPECT_EQ(unparse(other), "alice@EXAMPLE.COM");
  EXPECT_FALSE(moved);

  const Krb5Principal back(ctx(), other.release());
  EXPECT_FALSE(other);
  EXPECT_EQ(unparse(back), "alice@EXAMPLE.COM");
}

TEST_F(Krb5HandlesTest, OutResetsFirst) {
  Krb5Principal p = parse("alice@EXAMPLE.COM");
  ASSERT_EQ(krb5_parse_name(ctx(), "carol@EXAMPLE.COM", p.out()), 0);  // alice freed by out()
  EXPECT_EQ(unparse(p), "carol@EXAMPLE.COM");
  p.reset();
  EXPECT_FALSE(p);
  p.reset();
}

TEST_F(Krb5HandlesTest, DestroyingCcacheDestroysTheMemoryCacheOnScopeExit) {
  std::string name;
  {
    Krb5DestroyingCcache cc(ctx());
    ASSERT_EQ(krb5_cc_new_unique(ctx(), "MEMORY", nullptr, cc.out()), 0);
    ASSERT_TRUE(cc);
    const Krb5Principal alice = parse("alice@EXAMPLE.COM");
    ASSERT_EQ(krb5_cc_initialize(ctx(), cc.get(), alice.get()), 0);
    name = fullName(cc.get());
    ASSERT_EQ(name.rfind("MEMORY:", 0), 0U) << name;
    EXPECT_TRUE(cacheHoldsPrincipal(name));
  }
  EXPECT_FALSE(cacheHoldsPrincipal(name));
}

TEST_F(Krb5HandlesTest, ClosingCcacheLeavesTheMemoryCacheInPlace) {
  std::string name;
  {
    Krb5Ccache cc(ctx());
    ASSERT_EQ(krb5_cc_new_unique(ctx(), "MEMORY", nullptr, cc.out()), 0);
    const Krb5Principal alice = parse("alice@EXAMPLE.COM");
    ASSERT_EQ(krb5_cc_initialize(ctx(), cc.get(), alice.get()), 0);
    name = fullName(cc.get());
  }
  EXPECT_TRUE(cacheHoldsPrincipal(name));
  // Clean up through the destroying owner.
  Krb5DestroyingCcache cc(ctx());
  ASSERT_EQ(krb5_cc_resolve(ctx(), name.c_str(), cc.out()), 0);
  cc.reset();
  EXPECT_FALSE(cacheHoldsPrincipal(name));
}

TEST_F(Krb5HandlesTest, MovedCcacheIsDestroyedOnceByItsNewOwner) {
  Krb5DestroyingCcache a(ctx());
  ASSERT_EQ(krb5_cc_new_unique(ctx(), "MEMORY", nullptr, a.out()), 0);
  const Krb5Principal alice = parse("alice@EXAMPLE.COM");
  ASSERT_EQ(krb5_cc_initialize(ctx(), a.get(), alice.get()), 0);
  const std::string name = fullName(a.get());
  {
    Krb5DestroyingCcache b(std::move(a));
    EXPECT_FALSE(a);
    EXPECT_TRUE(cacheHoldsPrincipal(name));
  }
  EXPECT_FALSE(cacheHoldsPrincipal(name));
}

TEST_F(Krb5HandlesTest, KeytabOwner) {
  Krb5Keytab kt(ctx());
  ASSERT_EQ(krb5_kt_resolve(ctx(), "MEMORY:gssgate-unit-kt", kt.out()), 0);
  EXPECT_TRUE(kt);
  Krb5Keytab moved(std::move(kt));
  EXPECT_FALSE(kt);
  EXPECT_TRUE(moved);
}

TEST_F(Krb5HandlesTest, CredsOwner) {
  const Krb5Principal client = parse("alice@EXAMPLE.COM");
  const Krb5Principal server = parse("HTTP/www.example.com@EXAMPLE.COM");
  krb5_creds in{};
  in.client = client.get();
  in.server = server.get();
  Krb5Creds copy(ctx());
  ASSERT_EQ(krb5_copy_creds(ctx(), &in, copy.out()), 0);
  ASSERT_TRUE(copy);
  EXPECT_TRUE(krb5_principal_compare(ctx(), copy.get()->client, client.get()));
  EXPECT_NE(copy.get()->client, client.get());  // a deep copy, freed by the owner
}

TEST(Krb5ContextCreate, ReportsAnUnusableConfigReadably) {
  testing::useHermeticKrb5();
  const std::string bad = ::testing::TempDir() + "gssgate-bad-krb5.conf";
  {
    std::ofstream out(bad);
    out << "[libdefaults\n";  // unterminated section header
  }
  const char* const saved = std::getenv("KRB5_CONFIG");
  const std::string restore = saved != nullptr ? saved : "";
  setenv("KRB5_CONFIG", bad.c_str(), 1);
  auto ctx = Krb5Context::create();
  setenv("KRB5_CONFIG", restore.c_str(), 1);
  std::error_code ignored;
  std::filesystem::remove(bad, ignored);
  ASSERT_FALSE(ctx.ok());
  EXPECT_EQ(ctx.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(ctx.status().message().find("krb5_init_context failed: "), absl::string_view::npos)
      << ctx.status();
  EXPECT_NE(ctx.status().message().find("Improper format of Kerberos configuration file"),
            absl::string_view::npos)
      << ctx.status();
}

}  // namespace
}  // namespace gssgate

#include "broker/policy.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "broker/credentials/redeemer.h"

namespace gssgate::broker {
namespace {

PolicyEntry entry(std::optional<uid_t> uid, std::vector<std::string> services,
                  bool allow_tgt = false) {
  PolicyEntry e;
  e.uid = uid;
  e.services = std::move(services);
  e.allow_tgt = allow_tgt;
  return e;
}

// ---- decide() ------------------------------------------------------------------------------

TEST(PolicyDecideTest, EmptyPolicyDeniesEverything) {
  const std::vector<PolicyEntry> none;
  EXPECT_FALSE(decide(none, 0, "postgres/db").allowed);
  EXPECT_FALSE(decide(none, 1000, "HTTP/web").allowed);
  EXPECT_FALSE(decide(none, 1000, "HTTP/web").allow_tgt);
}

TEST(PolicyDecideTest, GlobMatchesHostsOfOneService) {
  const std::vector<PolicyEntry> policy{entry(std::nullopt, {"postgres/*"})};
  EXPECT_TRUE(decide(policy, 1000, "postgres/db").allowed);
  EXPECT_TRUE(decide(policy, 1000, "postgres/db.example.com").allowed);
  EXPECT_FALSE(decide(policy, 1000, "HTTP/x").allowed);
  EXPECT_FALSE(decide(policy, 1000, "postgresql/db").allowed);
  EXPECT_FALSE(decide(policy, 1000, "xpostgres/db").allowed);
  EXPECT_FALSE(decide(policy, 1000, "postgres").allowed);
}

TEST(PolicyDecideTest, ExactAndQuestionMarkGlobs) {
  const std::vector<PolicyEntry> policy{entry(std::nullopt, {"HTTP/web?.example.com", "ldap/dc1"})};
  EXPECT_TRUE(decide(policy, 1, "HTTP/web1.example.com").allowed);
  EXPECT_FALSE(decide(policy, 1, "HTTP/web12.example.com").allowed);
  EXPECT_FALSE(decide(policy, 1, "HTTP/web.example.com").allowed);
  EXPECT_TRUE(decide(policy, 1, "ldap/dc1").allowed);
  EXPECT_FALSE(decide(policy, 1, "ldap/dc10").allowed);
  EXPECT_FALSE(decide(policy, 1, "ldap/dc").allowed);
}

TEST(PolicyDecideTest, StarInTheMiddle) {
  const std::vector<PolicyEntry> policy{entry(std::nullopt, {"HTTP/*.example.com"})};
  EXPECT_TRUE(decide(policy, 1, "HTTP/a.example.com").allowed);
  EXPECT_TRUE(decide(policy, 1, "HTTP/a.b.example.com").allowed);
  EXPECT_FALSE(decide(policy, 1, "HTTP/example.com").allowed);
  EXPECT_FALSE(decide(policy, 1, "HTTP/a.example.com.evil").allowed);
}

TEST(PolicyDecideTest, UidSpecificEntriesApplyOnlyToThatUid) {
  const std::vector<PolicyEntry> policy{entry(1000, {"postgres/*"}),
                                        entry(std::nullopt, {"HTTP/*"})};
  EXPECT_TRUE(decide(policy, 1000, "postgres/db").allowed);
  EXPECT_FALSE(decide(policy, 1001, "postgres/db").allowed);
  EXPECT_FALSE(decide(policy, 0, "postgres/db").allowed);
  EXPECT_TRUE(decide(policy, 1000, "HTTP/x").allowed);  // the 'any' entry
  EXPECT_TRUE(decide(policy, 1001, "HTTP/x").allowed);
}

TEST(PolicyDecideTest, FirstMatchingEntryDecides) {
  const std::vector<PolicyEntry> policy{entry(1000, {"postgres/*"}, /*allow_tgt=*/false),
                                        entry(std::nullopt, {"postgres/*"}, /*allow_tgt=*/true)};
  const PolicyDecision forUser = decide(policy, 1000, "postgres/db");
  EXPECT_TRUE(forUser.allowed);
  EXPECT_FALSE(forUser.allow_tgt);
  const PolicyDecision forOthers = decide(policy, 2000, "postgres/db");
  EXPECT_TRUE(forOthers.allowed);
  EXPECT_TRUE(forOthers.allow_tgt);
}

TEST(PolicyDecideTest, AnEntryWhoseGlobsDoNotMatchDoesNotDecide) {
  const std::vector<PolicyEntry> policy{entry(1000, {"HTTP/*"}, /*allow_tgt=*/true),
                                        entry(1000, {"postgres/*"}, /*allow_tgt=*/false)};
  const PolicyDecision d = decide(policy, 1000, "postgres/db");
  EXPECT_TRUE(d.allowed);
  EXPECT_FALSE(d.allow_tgt);
}

TEST(PolicyDecideTest, AllowTgtIsPropagated) {
  const std::vector<PolicyEntry> policy{entry(0, {"*/*"}, /*allow_tgt=*/true)};
  const PolicyDecision d = decide(policy, 0, "host/x");
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(d.allow_tgt);
  EXPECT_FALSE(decide(policy, 1, "host/x").allowed);
  EXPECT_FALSE(decide(policy, 1, "host/x").allow_tgt);
}

// ---- normalizeService() ----------------------------------------------------------------------

TEST(NormalizeServiceTest, ServiceSlashHostIsKept) {
  auto s = normalizeService("postgres/db");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "postgres/db");
  s = normalizeService("HTTP/web.example.com");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "HTTP/web.example.com");
}

TEST(NormalizeServiceTest, HostBasedFormBecomesServiceSlashHost) {
  auto s = normalizeService("postgres@db");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "postgres/db");
  s = normalizeService("HTTP@web.example.com");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "HTTP/web.example.com");
}

TEST(NormalizeServiceTest, RealmIsRefused) {
  EXPECT_FALSE(normalizeService("postgres/db@EXAMPLE.COM").ok());
  EXPECT_FALSE(normalizeService("postgres/db@").ok());
  // Host-based form with a realm on top: the second '@' must not slip through as part of the
  // host (it would reach policy globs such as "postgres/*" and the KDC as a realm).
  EXPECT_FALSE(normalizeService("postgres@db@EXAMPLE.COM").ok());
  EXPECT_FALSE(normalizeService("postgres@db@").ok());
}

TEST(NormalizeServiceTest, EmptyPartsAreRefused) {
  for (const char* bad : {"", "/", "@", "postgres/", "/db", "postgres@", "@db"}) {
    EXPECT_FALSE(normalizeService(bad).ok()) << "'" << bad << "'";
  }
}

TEST(NormalizeServiceTest, ExactlyTwoComponents) {
  EXPECT_FALSE(normalizeService("postgres").ok());
  EXPECT_FALSE(normalizeService("postgres/db/extra").ok());
  EXPECT_FALSE(normalizeService("a/b/c").ok());
  EXPECT_FALSE(normalizeService("postgres//db").ok());
}

TEST(NormalizeServiceTest, SpacesControlBytesAndBackslashAreRefused) {
  for (const std::string& bad : {std::string("postgres/db host"), std::string(" postgres/db"),
                                 std::string("postgres/db\n"), std::string("postgres/db\t"),
                                 std::string("postgres/d\x7f"
                                             "b"),
                                 std::string("postgres/db\0x", 13), std::string("postgres\\/db"),
                                 std::string("postgres/db\\@X")}) {
    auto s = normalizeService(bad);
    EXPECT_FALSE(s.ok()) << bad;
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST(NormalizeServiceTest, OverlongNamesAreRefused) {
  EXPECT_FALSE(normalizeService("postgres/" + std::string(600, 'a')).ok());
  EXPECT_TRUE(normalizeService("postgres/" + std::string(400, 'a')).ok());
}

}  // namespace
}  // namespace gssgate::broker

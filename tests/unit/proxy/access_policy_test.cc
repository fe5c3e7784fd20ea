#include "proxy/auth/access_policy.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace gssgate::proxy {
namespace {

Route route(std::string path, Route::Auth auth = Route::Auth::kNegotiate,
            std::vector<std::string> allow = {}) {
  Route r;
  r.path = std::move(path);
  r.auth = auth;
  r.allow = std::move(allow);
  return r;
}

// The path of the matched route, or "(none)".
std::string matched(const std::vector<Route>& routes, std::string_view path) {
  const Route* r = matchRoute(routes, path);
  return r == nullptr ? "(none)" : r->path;
}

TEST(MatchRoute, PrefixMatchesOnlyOnSegmentBoundaries) {
  const std::vector<Route> routes = {route("/app", Route::Auth::kNone), route("/")};
  EXPECT_EQ(matched(routes, "/app"), "/app");
  EXPECT_EQ(matched(routes, "/app/"), "/app");
  EXPECT_EQ(matched(routes, "/app/x"), "/app");
  EXPECT_EQ(matched(routes, "/app/x/y/z"), "/app");
  EXPECT_EQ(matched(routes, "/apple"), "/");
  EXPECT_EQ(matched(routes, "/app.html"), "/");
  EXPECT_EQ(matched(routes, "/app-admin"), "/");
  EXPECT_EQ(matched(routes, "/ap"), "/");
  EXPECT_EQ(matched(routes, "/"), "/");
  EXPECT_EQ(matched(routes, "/x/app"), "/");
  // Case-sensitive, as documented.
  EXPECT_EQ(matched(routes, "/APP"), "/");
  EXPECT_EQ(matched(routes, "/App/x"), "/");
  // Escapes the target normaliser keeps (reserved characters) are not separators.
  EXPECT_EQ(matched(routes, "/app%3Fx"), "/");
  EXPECT_EQ(matched(routes, "/app%2F"), "/");
}

TEST(MatchRoute, LongestPrefixWins) {
  const std::vector<Route> routes = {route("/app/admin"), route("/app/pub", Route::Auth::kNone),
                                     route("/app", Route::Auth::kNone), route("/")};
  EXPECT_EQ(matched(routes, "/app/admin"), "/app/admin");
  EXPECT_EQ(matched(routes, "/app/admin/users"), "/app/admin");
  EXPECT_EQ(matched(routes, "/app/administrator"), "/app");
  EXPECT_EQ(matched(routes, "/app/pub/x"), "/app/pub");
  EXPECT_EQ(matched(routes, "/app/public"), "/app");
  EXPECT_EQ(matched(routes, "/app/x"), "/app");
  EXPECT_EQ(matched(routes, "/app"), "/app");
  EXPECT_EQ(matched(routes, "/other"), "/");
}

TEST(MatchRoute, RootRouteMatchesEverything) {
  const std::vector<Route> routes = {route("/")};
  for (const char* p : {"/", "/a", "/a/b/c", "/%2e", "//"}) EXPECT_EQ(matched(routes, p), "/") << p;
}

TEST(MatchRoute, WithoutRootRouteUncoveredPathsMatchNothing) {
  const std::vector<Route> routes = {route("/app/v2"), route("/app")};
  EXPECT_EQ(matched(routes, "/app/v2/x"), "/app/v2");
  EXPECT_EQ(matched(routes, "/app/v1"), "/app");
  EXPECT_EQ(matched(routes, "/"), "(none)");
  EXPECT_EQ(matched(routes, "/other"), "(none)");
  EXPECT_EQ(matched(routes, "/apps"), "(none)");
  EXPECT_EQ(matched(routes, ""), "(none)");
  EXPECT_EQ(matched({}, "/"), "(none)");
}

TEST(GlobMatch, Literals) {
  EXPECT_TRUE(globMatch("alice@EXAMPLE.COM", "alice@EXAMPLE.COM"));
  EXPECT_FALSE(globMatch("alice@EXAMPLE.COM", "alice@EXAMPLE.COMX"));
  EXPECT_FALSE(globMatch("alice@EXAMPLE.COM", "alice@EXAMPLE.CO"));
  EXPECT_FALSE(globMatch("alice@EXAMPLE.COM", "Alice@EXAMPLE.COM"));  // case-sensitive
  EXPECT_FALSE(globMatch("alice@EXAMPLE.COM", "alice@example.com"));
  EXPECT_FALSE(globMatch("alice@EXAMPLE.COM", "xalice@EXAMPLE.COM"));
  EXPECT_TRUE(globMatch("", ""));
  EXPECT_FALSE(globMatch("", "a"));
  EXPECT_FALSE(globMatch("a", ""));
}

TEST(GlobMatch, StarAtRealm) {
  const char* p = "*@EXAMPLE.COM";
  EXPECT_TRUE(globMatch(p, "alice@EXAMPLE.COM"));
  EXPECT_TRUE(globMatch(p, "host/web.example.com@EXAMPLE.COM"));  // '*' spans '/'
  EXPECT_TRUE(globMatch(p, "@EXAMPLE.COM"));                      // and may be empty
  EXPECT_TRUE(globMatch(p, "a@b@EXAMPLE.COM"));                   // and spans '@'
  EXPECT_FALSE(globMatch(p, "alice@EXAMPLE.COM.EVIL.ORG"));
  EXPECT_FALSE(globMatch(p, "alice@OTHER.COM"));
  EXPECT_FALSE(globMatch(p, "alice@example.com"));
  EXPECT_FALSE(globMatch(p, "alice@XEXAMPLE.COM"));
  EXPECT_FALSE(globMatch(p, "EXAMPLE.COM"));
  EXPECT_FALSE(globMatch(p, ""));
}

TEST(GlobMatch, QuestionMarkIsExactlyOneByte) {
  EXPECT_TRUE(globMatch("c?rol@*", "carol@EXAMPLE.COM"));
  EXPECT_TRUE(globMatch("c?rol@*", "c/rol@X"));
  EXPECT_FALSE(globMatch("c?rol@*", "crol@EXAMPLE.COM"));
  EXPECT_FALSE(globMatch("c?rol@*", "caarol@EXAMPLE.COM"));
  EXPECT_TRUE(globMatch("???", "abc"));
  EXPECT_FALSE(globMatch("???", "ab"));
  EXPECT_FALSE(globMatch("???", "abcd"));
  EXPECT_FALSE(globMatch("?", ""));
  EXPECT_TRUE(globMatch("a?c", "a?c"));
}

TEST(GlobMatch, MultipleStars) {
  EXPECT_TRUE(globMatch("*", ""));
  EXPECT_TRUE(globMatch("*", "anything@AT.ALL"));
  EXPECT_TRUE(globMatch("**", ""));
  EXPECT_TRUE(globMatch("***", "abc"));
  EXPECT_TRUE(globMatch("*a*b*c*", "xxaxxbxxcxx"));
  EXPECT_TRUE(globMatch("*a*b*c*", "abc"));
  EXPECT_FALSE(globMatch("*a*b*c*", "xxcxxbxxa"));
  EXPECT_TRUE(globMatch("svc-*/*@*.COM", "svc-web/host1@CORP.COM"));
  EXPECT_FALSE(globMatch("svc-*/*@*.COM", "svc-web@CORP.COM"));
  EXPECT_TRUE(globMatch("a*b*c", "abcbc"));
  EXPECT_FALSE(globMatch("a*b*c", "abcb"));
  EXPECT_TRUE(globMatch("*@*", "u@R"));
  EXPECT_TRUE(globMatch("*?", "x"));
  EXPECT_FALSE(globMatch("*?", ""));
  EXPECT_TRUE(globMatch("?*?", "ab"));
  EXPECT_TRUE(globMatch("a*", "a"));
  EXPECT_TRUE(globMatch("*a", "aaa"));
  EXPECT_FALSE(globMatch("*a", "aab"));
}

TEST(GlobMatch, StarInThePatternIsAlwaysAWildcard) {
  // A '*' in the pattern must not be consumed as a literal by a '*' in the text: here it has
  // to stretch over "*x" (or "**").
  EXPECT_TRUE(globMatch("*b", "*xb"));
  EXPECT_TRUE(globMatch("*@EXAMPLE.COM", "*x@EXAMPLE.COM"));
  EXPECT_TRUE(globMatch("a*c", "a*xc"));
  EXPECT_TRUE(globMatch("*", "*"));
  EXPECT_TRUE(globMatch("**b", "**xb"));
  EXPECT_TRUE(globMatch("?*b", "?*xb"));
  EXPECT_FALSE(globMatch("*b", "*x"));
}

TEST(GlobMatch, PathologicalPatternsAreFast) {
  const std::string as(100000, 'a');
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(globMatch("a*a*a*a*b", as));
  EXPECT_FALSE(globMatch("*a*a*a*a*a*a*a*a*a*a*a*a*b", as));
  EXPECT_TRUE(globMatch("a*a*a*a*a", as));
  EXPECT_FALSE(globMatch(std::string(1000, '*') + "b", as));
  EXPECT_FALSE(globMatch("*" + std::string(50, '?') + "b", as));
  EXPECT_FALSE(globMatch("*" + std::string(200, 'a') + "b", as));
  std::string many;
  for (int i = 0; i < 200; ++i) many += "a*";
  EXPECT_FALSE(globMatch(many + "b", std::string(5000, 'a')));
  const auto took = std::chrono::steady_clock::now() - start;
  // Backtracking over every star would take astronomically long; the linear-ish matcher
  // needs milliseconds (generous bound for sanitizer builds).
  EXPECT_LT(took, std::chrono::seconds(2));
}

TEST(PrincipalAllowed, EmptyAllowListAllowsAnyone) {
  const Route r = route("/");
  EXPECT_TRUE(principalAllowed(r, "alice@EXAMPLE.COM"));
  EXPECT_TRUE(principalAllowed(r, "anyone@ANY.REALM"));
}

TEST(PrincipalAllowed, AnyGlobSuffices) {
  const Route r = route("/", Route::Auth::kNegotiate, {"alice@EXAMPLE.COM", "*@PARTNER.ORG"});
  EXPECT_TRUE(principalAllowed(r, "alice@EXAMPLE.COM"));
  EXPECT_TRUE(principalAllowed(r, "bob@PARTNER.ORG"));
  EXPECT_FALSE(principalAllowed(r, "bob@EXAMPLE.COM"));
  EXPECT_FALSE(principalAllowed(r, "alice@example.com"));
  EXPECT_FALSE(principalAllowed(r, ""));
}

// ---------------------------------------------------------------------------- realms, deny

Route restricted(std::vector<std::string> realms, std::vector<std::string> deny = {},
                 std::vector<std::string> allow = {}) {
  Route r = route("/", Route::Auth::kNegotiate, std::move(allow));
  r.realms = std::move(realms);
  r.deny = std::move(deny);
  return r;
}

std::string refusal(const Route& r, std::string_view principal) {
  const char* why = accessRefusal(r, principal);
  return why == nullptr ? "granted" : why;
}

TEST(RealmOf, AfterTheLastUnescapedAt) {
  EXPECT_EQ(realmOf("alice@EXAMPLE.COM"), "EXAMPLE.COM");
  EXPECT_EQ(realmOf("HTTP/web.example.com@EXAMPLE.COM"), "EXAMPLE.COM");
  EXPECT_EQ(realmOf("a@b@EXAMPLE.COM"), "EXAMPLE.COM");
  EXPECT_EQ(realmOf("@EXAMPLE.COM"), "EXAMPLE.COM");
  EXPECT_EQ(realmOf("alice@"), "");
  EXPECT_EQ(realmOf("alice"), "");
  EXPECT_EQ(realmOf(""), "");
}

TEST(RealmOf, EscapedAtIsPartOfTheName) {
  // krb5 unparses an '@' inside a component as "\@".
  EXPECT_EQ(realmOf(R"(user\@EVIL.ORG@EXAMPLE.COM)"), "EXAMPLE.COM");
  EXPECT_EQ(realmOf(R"(user\@EVIL.ORG)"), "");  // no realm at all
  EXPECT_EQ(realmOf(R"(user@EXAMPLE.COM\@EVIL.ORG)"), R"(EXAMPLE.COM\@EVIL.ORG)");
  // An escaped backslash does not escape the '@' after it.
  EXPECT_EQ(realmOf(R"(user\\@EXAMPLE.COM)"), "EXAMPLE.COM");
  EXPECT_EQ(realmOf(R"(user\\\@EVIL.ORG)"), "");
  EXPECT_EQ(realmOf(R"(user\\\\@R)"), "R");
  EXPECT_EQ(realmOf(R"(\@R)"), "");
}

TEST(AccessRefusal, NoRestrictionsGrantsEveryone) {
  const Route r = route("/");
  EXPECT_EQ(refusal(r, "alice@EXAMPLE.COM"), "granted");
  EXPECT_EQ(refusal(r, "x@ANY"), "granted");
}

TEST(AccessRefusal, RealmsAreExactAndCaseSensitive) {
  const Route r = restricted({"EXAMPLE.COM", "PARTNER.ORG"});
  EXPECT_EQ(refusal(r, "alice@EXAMPLE.COM"), "granted");
  EXPECT_EQ(refusal(r, "bob@PARTNER.ORG"), "granted");
  EXPECT_EQ(refusal(r, "alice@example.com"), "realm_not_allowed");
  EXPECT_EQ(refusal(r, "alice@SUB.EXAMPLE.COM"), "realm_not_allowed");
  EXPECT_EQ(refusal(r, "alice@EXAMPLE.COM.EVIL"), "realm_not_allowed");
  EXPECT_EQ(refusal(r, "alice"), "realm_not_allowed");
  EXPECT_EQ(refusal(r, "alice@"), "realm_not_allowed");
  EXPECT_EQ(refusal(r, ""), "realm_not_allowed");
}

TEST(AccessRefusal, EscapedAtCannotSmuggleARealm) {
  const Route evil_only = restricted({"EVIL.ORG"});
  EXPECT_EQ(refusal(evil_only, R"(user\@EVIL.ORG@EXAMPLE.COM)"), "realm_not_allowed");
  EXPECT_EQ(refusal(evil_only, R"(user\@EVIL.ORG)"), "realm_not_allowed");
  const Route example = restricted({"EXAMPLE.COM"});
  EXPECT_EQ(refusal(example, R"(user\@EVIL.ORG@EXAMPLE.COM)"), "granted");
  EXPECT_EQ(refusal(example, R"(user@EXAMPLE.COM\@EVIL.ORG)"), "realm_not_allowed");
}

TEST(AccessRefusal, DenyBeatsAllow) {
  const Route r = restricted({}, {"bob@*", "svc-*@EXAMPLE.COM"}, {"*@EXAMPLE.COM"});
  EXPECT_EQ(refusal(r, "alice@EXAMPLE.COM"), "granted");
  EXPECT_EQ(refusal(r, "bob@EXAMPLE.COM"), "denied");
  EXPECT_EQ(refusal(r, "svc-backup@EXAMPLE.COM"), "denied");
  EXPECT_EQ(refusal(r, "carol@OTHER.ORG"), "not_allowed");
  EXPECT_EQ(refusal(r, "bob@OTHER.ORG"), "denied");  // deny is checked before allow
  // deny alone: everyone else is let in.
  const Route deny_only = restricted({}, {"mallory@EXAMPLE.COM"});
  EXPECT_EQ(refusal(deny_only, "mallory@EXAMPLE.COM"), "denied");
  EXPECT_EQ(refusal(deny_only, "mallory@EXAMPLE.COMX"), "granted");
  EXPECT_EQ(refusal(deny_only, "alice@EXAMPLE.COM"), "granted");
}

TEST(AccessRefusal, RealmIsCheckedFirst) {
  const Route r = restricted({"EXAMPLE.COM"}, {"bob@*"}, {"alice@*"});
  EXPECT_EQ(refusal(r, "alice@EXAMPLE.COM"), "granted");
  EXPECT_EQ(refusal(r, "alice@OTHER.ORG"), "realm_not_allowed");
  EXPECT_EQ(refusal(r, "bob@OTHER.ORG"), "realm_not_allowed");
  EXPECT_EQ(refusal(r, "bob@EXAMPLE.COM"), "denied");
  EXPECT_EQ(refusal(r, "carol@EXAMPLE.COM"), "not_allowed");
}

}  // namespace
}  // namespace gssgate::proxy

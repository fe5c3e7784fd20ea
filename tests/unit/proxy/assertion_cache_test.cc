#include "proxy/auth/assertion_cache.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "common/base64.h"

namespace gssgate::proxy {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNow = 1'800'000'000;

std::string payloadOf(const std::string& jwt) {
  const auto a = jwt.find('.');
  const auto b = jwt.find('.', a + 1);
  auto json = base64UrlDecode(std::string_view(jwt).substr(a + 1, b - a - 1));
  EXPECT_TRUE(json.has_value()) << jwt;
  return json.value_or("");
}

AssertionOptions opts(int64_t lifetime = 60) {
  AssertionOptions o;
  o.issuer = "https://gssgate.test";
  o.audience = "payroll";
  o.lifetime = std::chrono::seconds(lifetime);
  return o;
}

TEST(AssertionCache, ClaimsNameTheUser) {
  auto signer = JwtSigner::generateEd25519();
  AssertionCache cache;
  const std::string jwt = cache.get(*signer, opts(), "alice@EXAMPLE.COM", "alice", kNow);
  const std::string p = payloadOf(jwt);
  EXPECT_THAT(p, HasSubstr("\"iss\":\"https://gssgate.test\""));
  EXPECT_THAT(p, HasSubstr("\"sub\":\"alice\""));
  EXPECT_THAT(p, HasSubstr("\"aud\":\"payroll\""));
  EXPECT_THAT(p, HasSubstr("\"iat\":1800000000"));
  EXPECT_THAT(p, HasSubstr("\"nbf\":1800000000"));
  EXPECT_THAT(p, HasSubstr("\"exp\":1800000060"));
  EXPECT_THAT(p, HasSubstr("\"principal\":\"alice@EXAMPLE.COM\""));
  EXPECT_THAT(p, HasSubstr("\"jti\":\""));
}

TEST(AssertionCache, ReusedForHalfItsLifetimeThenRenewed) {
  auto signer = JwtSigner::generateEd25519();
  AssertionCache cache;
  const std::string first = cache.get(*signer, opts(60), "alice@R", "alice", kNow);
  EXPECT_EQ(cache.get(*signer, opts(60), "alice@R", "alice", kNow + 30), first);
  const std::string renewed = cache.get(*signer, opts(60), "alice@R", "alice", kNow + 31);
  EXPECT_NE(renewed, first);
  EXPECT_THAT(payloadOf(renewed), HasSubstr("\"exp\":1800000091"));
  // A clock that went backwards gets a fresh token, never one "issued in the future".
  EXPECT_NE(cache.get(*signer, opts(60), "alice@R", "alice", kNow), renewed);
}

TEST(AssertionCache, PerUserAndPerSigner) {
  auto signer = JwtSigner::generateEd25519();
  auto other = JwtSigner::generateEd25519();
  AssertionCache cache;
  const std::string alice = cache.get(*signer, opts(), "alice@R", "alice", kNow);
  const std::string bob = cache.get(*signer, opts(), "bob@R", "bob", kNow);
  EXPECT_NE(alice, bob);
  EXPECT_THAT(payloadOf(bob), HasSubstr("\"sub\":\"bob\""));
  // Same principal, another local name: not the same token.
  EXPECT_THAT(payloadOf(cache.get(*signer, opts(), "alice@R", "alice2", kNow)),
              HasSubstr("\"sub\":\"alice2\""));
  // After a key change (reload) the old key's token is not handed out.
  const std::string resigned = cache.get(*other, opts(), "alice@R", "alice", kNow);
  EXPECT_NE(resigned, alice);
  EXPECT_THAT(resigned, ::testing::StartsWith(other->sign({}).substr(0, resigned.find('.'))));
}

TEST(AssertionCache, OneSecondLifetimeIsNeverServedExpired) {
  auto signer = JwtSigner::generateEd25519();
  AssertionCache cache;
  const std::string a = cache.get(*signer, opts(1), "alice@R", "alice", kNow);
  const std::string b = cache.get(*signer, opts(1), "alice@R", "alice", kNow + 1);
  EXPECT_NE(a, b);
  EXPECT_THAT(payloadOf(b), HasSubstr("\"exp\":1800000002"));
}

}  // namespace
}  // namespace gssgate::proxy

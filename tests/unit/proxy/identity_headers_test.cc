#include "proxy/upstream/identity_headers.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace gssgate::proxy {
namespace {

namespace http = boost::beast::http;

using Header = std::pair<std::string, std::string>;
using Headers = std::vector<Header>;

http::fields make(const Headers& list) {
  http::fields f;
  for (const auto& [name, value] : list) f.insert(name, value);
  return f;
}

Headers listOf(const http::fields& f) {
  Headers out;
  for (const auto& field : f) out.emplace_back(field.name_string(), field.value());
  return out;
}

Headers copied(const Headers& in, bool drop_authorization, const HeaderNames& names = {}) {
  http::fields from = make(in);
  http::fields to;
  copyRequestHeaders(from, to, names,
                     drop_authorization ? DropAuthorization::kAll : DropAuthorization::kNegotiate);
  return listOf(to);
}

TEST(IsIdentityHeader, DefaultNamesInEverySpelling) {
  const HeaderNames names;
  for (const char* n : {"X-Remote-User",
                        "x-remote-user",
                        "X-REMOTE-USER",
                        "x_remote_user",
                        "X_REMOTE_USER",
                        "X-Remote_User",
                        "x_Remote-uSeR",
                        "X-Remote-Principal",
                        "x-remote-principal",
                        "X_Remote_Principal",
                        "X-Gssgate-Credential",
                        "x_gssgate_credential",
                        "X-Gssgate-Assertion",
                        "X-GSSGATE-ASSERTION",
                        "X-GSSGATE-ANYTHING",
                        "x-gssgate-",
                        "X_GSSGATE_",
                        "x-gssgate-user",
                        "X-Gssgate-Remote-User",
                        "x_gssgate_session_id"}) {
    EXPECT_TRUE(isIdentityHeader(n, names)) << n;
  }
}

TEST(IsIdentityHeader, OtherHeadersAreNot) {
  const HeaderNames names;
  for (const char* n :
       {"Host", "Authorization", "Cookie", "X-Remote-Users", "X-Remote", "Remote-User",
        "X-Remote-User-Name", "X-Forwarded-User", "XRemote-User", "X-RemoteUser", "X-Gssgate",
        "X-Gss-Gate-Credential", "Gssgate-Credential", "X-Remote-Addr", "X-Real-IP", ""}) {
    EXPECT_FALSE(isIdentityHeader(n, names)) << n;
  }
}

TEST(IsIdentityHeader, ConfiguredNamesInEverySpellingPlusTheDefaults) {
  HeaderNames names;
  names.remote_user = "X-Auth-User";
  names.remote_principal = "Auth-Principal";
  names.credential = "X-Cred";
  names.assertion = "Assertion";
  for (const char* n :
       {"X-Auth-User", "x-auth-user", "X_AUTH_USER", "x_auth-user", "Auth-Principal",
        "AUTH_PRINCIPAL", "auth-principal", "X-Cred", "x_cred", "Assertion", "ASSERTION",
        // The built-in names stay protected whatever is configured.
        "X-Remote-User", "x_remote_principal", "X-Gssgate-Credential", "X-Gssgate-Other"}) {
    EXPECT_TRUE(isIdentityHeader(n, names)) << n;
  }
  for (const char* n : {"X-Auth-Users", "X-Auth", "Auth-Principals", "X-Creds", "Assertions"}) {
    EXPECT_FALSE(isIdentityHeader(n, names)) << n;
  }
}

TEST(CopyRequestHeaders, DropsEverythingTheContractSaysAndKeepsTheRestInOrder) {
  const Headers in = {
      {"Host", "app.example.com"},
      {"Connection", "keep-alive, X-Drop-Me, x_drop_underscore"},
      {"User-Agent", "curl/7.88"},
      {"Keep-Alive", "timeout=5"},
      {"X-Drop-Me", "1"},
      {"X-Drop-Underscore", "1"},
      {"Proxy-Connection", "keep-alive"},
      {"Accept", "*/*"},
      {"TE", "trailers"},
      {"Trailer", "X-Checksum"},
      {"Transfer-Encoding", "chunked"},
      {"Content-Length", "5"},
      {"Upgrade", "websocket"},
      {"Proxy-Authorization", "Basic eDp5"},
      {"Proxy-Authenticate", "Basic"},
      {"X-Custom-B", "first"},
      {"Expect", "100-continue"},
      {"Forwarded", "for=1.2.3.4"},
      {"X-Forwarded-For", "1.2.3.4"},
      {"X-Forwarded-Host", "evil.example"},
      {"x_forwarded_proto", "https"},
      {"X-Forwarded-Anything", "x"},
      {"X-Original-URL", "/admin"},
      {"x_rewrite_url", "/admin"},
      {"X-Real-IP", "10.0.0.1"},
      {"True-Client-IP", "10.0.0.1"},
      {"Authorization", "Negotiate YWJj"},
      {"X-Remote-User", "admin"},
      {"x_remote_user", "admin"},
      {"X-Remote-Principal", "admin@EXAMPLE.COM"},
      {"X-Gssgate-Credential", "stolen"},
      {"X-GSSGATE-ANYTHING", "x"},
      {"Cookie", "a=1"},
      {"x-custom-a", "lower-case name kept"},
      {"X-Custom-B", "second"},
      {"Content-Type", "application/json"},
      {"Cookie", "b=2"},
  };
  // Order is kept. (Beast's fields put a repeated name right after that name's last field, so
  // the two X-Custom-B and the two Cookie fields come out adjacent, each in its own order.)
  const Headers want = {
      {"Host", "app.example.com"},
      {"User-Agent", "curl/7.88"},
      {"Accept", "*/*"},
      {"X-Custom-B", "first"},
      {"X-Custom-B", "second"},
      {"Cookie", "a=1"},
      {"Cookie", "b=2"},
      {"x-custom-a", "lower-case name kept"},
      {"Content-Type", "application/json"},
  };
  EXPECT_EQ(copied(in, /*drop_authorization=*/true), want);

  // On auth: none routes too a Negotiate token is dropped: it is addressed to the proxy.
  EXPECT_EQ(copied(in, /*drop_authorization=*/false), want);
}

TEST(CopyRequestHeaders, AuthNoneRoutesDropOnlyTheProxysSchemes) {
  auto run = [](std::string_view value, DropAuthorization drop) {
    http::fields from = make({{"Host", "h"}, {"Authorization", std::string(value)}});
    http::fields to;
    copyRequestHeaders(from, to, HeaderNames{}, drop);
    return to.count(http::field::authorization) == 1;
  };
  for (const char* v : {"Negotiate YWJj", "negotiate YWJj", "  NEGOTIATE\tYWJj", "Negotiate"}) {
    EXPECT_FALSE(run(v, DropAuthorization::kNegotiate)) << v;
    EXPECT_FALSE(run(v, DropAuthorization::kNegotiateAndBasic)) << v;
  }
  EXPECT_TRUE(run("Basic YTpi", DropAuthorization::kNegotiate));
  EXPECT_FALSE(run("Basic YTpi", DropAuthorization::kNegotiateAndBasic));
  EXPECT_FALSE(run("basic YTpi", DropAuthorization::kNegotiateAndBasic));
  EXPECT_TRUE(run("Bearer t", DropAuthorization::kNegotiateAndBasic));
  // By prefix: a token glued to the scheme (found by the request_path fuzzer) is dropped too.
  EXPECT_FALSE(run("NegotiateX t", DropAuthorization::kNegotiate));
  EXPECT_FALSE(run("Negotiate\xe0\xa6YIIC", DropAuthorization::kNegotiate));
  EXPECT_FALSE(run("BasicYTpi", DropAuthorization::kNegotiateAndBasic));
  EXPECT_FALSE(run("Bearer t", DropAuthorization::kAll));
}

TEST(CopyRequestHeaders, AuthorizationOnlyWhenAsked) {
  const Headers in = {{"Host", "h"}, {"authorization", "Bearer t"}};
  EXPECT_EQ(copied(in, true), (Headers{{"Host", "h"}}));
  EXPECT_EQ(copied(in, false), (Headers{{"Host", "h"}, {"authorization", "Bearer t"}}));
}

TEST(CopyRequestHeaders, HeadersNamedInAnyConnectionFieldAreDropped) {
  const Headers in = {{"Host", "h"},
                      {"Connection", "close"},
                      {"connection", " X-A ,,x-b"},
                      {"X-A", "1"},
                      {"X-B", "2"},
                      {"X-C", "3"}};
  EXPECT_EQ(copied(in, true), (Headers{{"Host", "h"}, {"X-C", "3"}}));
}

TEST(CopyRequestHeaders, ConfiguredIdentityNamesAreDropped) {
  HeaderNames names;
  names.remote_user = "X-Auth-User";
  const Headers in = {{"Host", "h"},
                      {"x_auth_user", "root"},
                      {"X-Auth-User", "root"},
                      {"X-Remote-User", "root"},
                      {"X-Other", "ok"}};
  EXPECT_EQ(copied(in, true, names), (Headers{{"Host", "h"}, {"X-Other", "ok"}}));
}

TEST(CopyRequestHeaders, UnderscoreSpellingsOfFramingHeadersAreDropped) {
  // Some app servers map '_' to '-': a "Content_Length" must not reach them.
  const Headers in = {{"Host", "h"},
                      {"Content_Length", "5"},
                      {"Transfer_Encoding", "chunked"},
                      {"X_Forwarded_For", "1.2.3.4"},
                      {"Proxy_Authorization", "x"}};
  EXPECT_EQ(copied(in, true), (Headers{{"Host", "h"}}));
}

TEST(CopyRequestHeaders, AppendsToExistingFields) {
  http::fields from = make({{"Host", "h"}, {"X-A", "1"}});
  http::fields to;
  to.insert("X-Pre", "0");
  copyRequestHeaders(from, to, HeaderNames{}, DropAuthorization::kAll);
  EXPECT_EQ(listOf(to), (Headers{{"X-Pre", "0"}, {"Host", "h"}, {"X-A", "1"}}));
}

TEST(CopyResponseHeaders, DropsHopByHopAndFramingKeepsTheRest) {
  const Headers in = {{"Content-Type", "text/html"},
                      {"Connection", "close, X-Internal"},
                      {"Keep-Alive", "timeout=5"},
                      {"Transfer-Encoding", "chunked"},
                      {"Content-Length", "10"},
                      {"X-Internal", "secret"},
                      {"Set-Cookie", "a=1"},
                      {"Set-Cookie", "b=2"},
                      {"Upgrade", "h2c"},
                      {"WWW-Authenticate", "Basic"},
                      {"X-Remote-User", "kept: response headers are the app's"}};
  http::fields from = make(in);
  http::fields to;
  copyResponseHeaders(from, to);
  EXPECT_EQ(listOf(to), (Headers{{"Content-Type", "text/html"},
                                 {"Set-Cookie", "a=1"},
                                 {"Set-Cookie", "b=2"},
                                 {"WWW-Authenticate", "Basic"},
                                 {"X-Remote-User", "kept: response headers are the app's"}}));
}

}  // namespace
}  // namespace gssgate::proxy

#include "proxy/upstream/upstream_request.h"

#include <gtest/gtest.h>

#include <string>

#include "proxy/auth/header_safe_name.h"

namespace gssgate::proxy {
namespace {

namespace http = boost::beast::http;

UpstreamRequestParams params(const HeaderNames& names, bool negotiate) {
  UpstreamRequestParams p;
  p.target = "/app/x?q=1";
  p.headers = &names;
  p.session_cookie = "gssgate_session";
  p.negotiate = negotiate;
  p.local_name = "alice";
  p.principal = "alice@EX.COM";
  p.credential_handle = "gsh1.h";
  p.assertion = "jwt";
  p.client_ip = "192.0.2.1";
  p.default_host = "127.0.0.1:8080";
  return p;
}

http::request_header<> clientRequest() {
  http::request_header<> req;
  req.method(http::verb::post);
  req.target("/app/./x");  // the upstream gets the normalised target, not this
  req.version(10);
  req.set(http::field::host, "app.example.com");
  req.insert("x_remote_user", "root");
  req.insert("X-Gssgate-Credential", "forged");
  req.set(http::field::authorization, "Negotiate YII=");
  req.set(http::field::proxy_authorization, "Basic eDp5");
  req.insert(http::field::cookie, "a=1; gssgate_session=secret; b=2");
  req.insert(http::field::cookie, "gssgate_session=other");
  req.set("X-Forwarded-For", "6.6.6.6");
  req.set(http::field::content_length, "5");
  req.set("X-App", "kept");
  return req;
}

TEST(BuildUpstreamRequest, NegotiateRouteCarriesOnlyTheProxysIdentity) {
  const HeaderNames names;
  auto p = params(names, true);
  p.content_length = 5;
  auto up = buildUpstreamRequest(clientRequest(), p);
  EXPECT_EQ(up.method(), http::verb::post);
  EXPECT_EQ(up.target(), "/app/x?q=1");
  EXPECT_EQ(up.version(), 11);
  EXPECT_EQ(up["X-Remote-User"], "alice");
  EXPECT_EQ(up.count("X-Remote-User"), 1u);
  EXPECT_EQ(up["X-Remote-Principal"], "alice@EX.COM");
  EXPECT_EQ(up["X-Gssgate-Credential"], "gsh1.h");
  EXPECT_EQ(up.count("X-Gssgate-Credential"), 1u);
  EXPECT_EQ(up["X-Gssgate-Assertion"], "jwt");
  EXPECT_EQ(up.count(http::field::authorization), 0u);
  EXPECT_EQ(up.count(http::field::proxy_authorization), 0u);
  ASSERT_EQ(up.count(http::field::cookie), 1u);
  EXPECT_EQ(up[http::field::cookie], "a=1; b=2");
  EXPECT_EQ(up["X-Forwarded-For"], "192.0.2.1");
  EXPECT_EQ(up["X-Forwarded-Proto"], "http");
  EXPECT_EQ(up["X-Forwarded-Host"], "app.example.com");
  EXPECT_EQ(up[http::field::host], "app.example.com");
  EXPECT_EQ(up[http::field::content_length], "5");
  EXPECT_EQ(up.count(http::field::transfer_encoding), 0u);
  EXPECT_EQ(up["X-App"], "kept");
}

TEST(BuildUpstreamRequest, NoneRouteHasNoIdentityNorNegotiateToken) {
  const HeaderNames names;
  auto p = params(names, false);
  p.drop_authorization = DropAuthorization::kNegotiate;
  auto up = buildUpstreamRequest(clientRequest(), p);
  EXPECT_EQ(up.count("X-Remote-User"), 0u);
  EXPECT_EQ(up.count("x_remote_user"), 0u);
  EXPECT_EQ(up.count("X-Gssgate-Credential"), 0u);
  EXPECT_EQ(up.count("X-Gssgate-Assertion"), 0u);
  EXPECT_EQ(up.count(http::field::authorization), 0u);   // a Negotiate token, never forwarded
  EXPECT_EQ(up.count(http::field::content_length), 0u);  // no framing given: none set
}

TEST(BuildUpstreamRequest, ChunkedFramingAndDefaultHost) {
  const HeaderNames names;
  http::request_header<> req;
  req.method(http::verb::put);
  req.target("/");
  req.set(http::field::transfer_encoding, "chunked");
  auto p = params(names, false);
  p.chunked = true;
  p.session_cookie = {};  // sessions off: cookies untouched
  p.tls = true;
  auto up = buildUpstreamRequest(req, p);
  EXPECT_TRUE(up.chunked());
  EXPECT_EQ(up.count(http::field::content_length), 0u);
  EXPECT_EQ(up[http::field::host], "127.0.0.1:8080");
  EXPECT_EQ(up.count("X-Forwarded-Host"), 0u);
  EXPECT_EQ(up["X-Forwarded-Proto"], "https");
}

TEST(IsHeaderSafeName, RefusesWhatAHeaderCannotCarryFaithfully) {
  EXPECT_TRUE(isHeaderSafeName("alice@EX.COM"));
  EXPECT_TRUE(isHeaderSafeName("al ice"));
  EXPECT_TRUE(isHeaderSafeName("jos\xc3\xa9"));
  EXPECT_FALSE(isHeaderSafeName(""));
  EXPECT_FALSE(isHeaderSafeName(" alice"));  // read upstream as "alice"
  EXPECT_FALSE(isHeaderSafeName("alice "));
  EXPECT_FALSE(isHeaderSafeName("alice\r\nX-Remote-User: root"));
  EXPECT_FALSE(isHeaderSafeName(std::string("al\0ice", 6)));
  EXPECT_FALSE(isHeaderSafeName("al\tice"));
  EXPECT_FALSE(isHeaderSafeName("al\x7f"));
}

}  // namespace
}  // namespace gssgate::proxy

// Fuzz target (a): raw client bytes through the proxy's request path — header block, Beast's
// request_parser with the production limits, framing checks, target normalisation, route
// matching, header hygiene and buildUpstreamRequest() (the function forward() sends) — then a
// differential oracle: the bytes that would go upstream are parsed again, independently, and
// must be exactly one complete request with sane framing, the normalised target, the same
// body, and no identity header but the proxy's own.
//
// Input: what a client sends on one connection (pipelined requests are handled one after the
// other, as HttpSession::run() does, while the connection would stay open).
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/http.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/auth/access_policy.h"
#include "proxy/config.h"
#include "proxy/server/request_framing.h"
#include "proxy/server/request_target.h"
#include "proxy/upstream/upstream_request.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

namespace http = boost::beast::http;
namespace net = boost::asio;
using gssgate::proxy::HeaderNames;
using gssgate::proxy::Route;

constexpr std::string_view kCookieName = "gssgate_session";
constexpr std::string_view kLocalName = "alice";
constexpr std::string_view kPrincipal = "alice@GSSGATE.TEST";
constexpr std::string_view kHandle = "gsh1.AAAAfuzzhandle";
constexpr std::string_view kAssertion = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2ln";
constexpr std::string_view kClientIp = "192.0.2.7";
constexpr int kMaxPipelined = 8;

struct Setup {
  gssgate::proxy::ProxyConfig cfg;
  explicit Setup(bool custom_names) {
    if (custom_names) {  // configured names must be protected like the defaults
      cfg.headers.remote_user = "X-User";
      cfg.headers.remote_principal = "Remote_Principal";
      cfg.headers.credential = "X-App-Credential";
      cfg.headers.assertion = "X-Jwt";
    }
    // Sorted longest first, as loadProxyConfig leaves them.
    Route pub;
    pub.path = "/public";
    pub.auth = Route::Auth::kNone;
    Route root;
    root.path = "/";
    cfg.routes = {pub, root};
    cfg.listen.host = "127.0.0.1";
    cfg.listen.port = 8080;
  }
};

// The oracle's own idea of a header name's identity, written independently of
// identity_headers.cc: lower case, '_' read as '-'.
std::string canonical(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '_') c = '-';
    out += c;
  }
  return out;
}

bool identityLike(std::string_view canon, const HeaderNames& names) {
  return canon.starts_with("x-gssgate-") || canon == "x-remote-user" ||
         canon == "x-remote-principal" || canon == canonical(names.remote_user) ||
         canon == canonical(names.remote_principal) || canon == canonical(names.credential) ||
         canon == canonical(names.assertion);
}

bool hasCookieNamed(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
    auto eq = pair.find('=');
    std::string_view n = pair.substr(0, eq);
    while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.remove_suffix(1);
    if (eq != std::string_view::npos && n == name) return true;
  }
  return false;
}

bool hasCtl(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// Serialises `up` with `body` as one piece, the way forward()'s serializer frames it.
std::string serialise(http::request<http::buffer_body>& up, std::string& body) {
  up.body().data = body.empty() ? nullptr : body.data();
  up.body().size = body.size();
  up.body().more = false;
  std::string out;
  http::request_serializer<http::buffer_body> sr{up};
  boost::system::error_code ec;
  while (!sr.is_done()) {
    sr.next(ec, [&](boost::system::error_code& ec2, const auto& buffers) {
      ec2 = {};
      size_t n = 0;
      for (auto b : boost::beast::buffers_range_ref(buffers)) {
        out.append(static_cast<const char*>(b.data()), b.size());
        n += b.size();
      }
      sr.consume(n);
    });
    FUZZ_CHECK(!ec, "serialising the upstream request failed");
  }
  return out;
}

void checkUpstream(const Setup& s, const http::request<http::buffer_body>& orig,
                   const http::request_parser<http::buffer_body>& parser, const Route& route,
                   std::string_view target, std::string wire, const std::string& body) {
  const HeaderNames& names = s.cfg.headers;
  const bool negotiate = route.auth == Route::Auth::kNegotiate;
  http::request_parser<http::string_body> re;
  re.header_limit(UINT32_MAX);
  re.body_limit(boost::none);
  re.eager(true);
  boost::system::error_code ec;
  size_t used = 0;
  while (!re.is_done() && used < wire.size()) {
    size_t n = re.put(net::buffer(wire.data() + used, wire.size() - used), ec);
    FUZZ_CHECK(!ec, "the upstream request does not parse");
    if (n == 0) break;
    used += n;
  }
  FUZZ_CHECK(re.is_done(), "the upstream request is incomplete");
  FUZZ_CHECK(used == wire.size(), "bytes left over after the upstream request");
  const auto& got = re.get();
  FUZZ_CHECK(got.target() == target, "upstream target differs from the normalised target");
  FUZZ_CHECK(got.method_string() == orig.method_string(), "method changed");
  FUZZ_CHECK(got.version() == 11, "upstream request is not HTTP/1.1");
  FUZZ_CHECK(got.body() == body, "body changed on the way upstream");

  // Framing: Content-Length XOR chunked, as the client framed it.
  const size_t cls = got.count(http::field::content_length);
  const size_t tes = got.count(http::field::transfer_encoding);
  FUZZ_CHECK(cls <= 1 && tes <= 1, "repeated framing header upstream");
  FUZZ_CHECK(!(cls == 1 && tes == 1), "Content-Length and Transfer-Encoding together upstream");
  FUZZ_CHECK(re.chunked() == parser.chunked(), "chunked framing not kept");
  if (parser.chunked()) {
    FUZZ_CHECK(tes == 1 && cls == 0, "chunked body without exactly Transfer-Encoding: chunked");
  } else if (parser.content_length()) {
    FUZZ_CHECK(cls == 1 && re.content_length() == parser.content_length(),
               "Content-Length not kept");
  } else {
    FUZZ_CHECK(cls == 0 && tes == 0 && body.empty(), "framing invented for a bodiless request");
  }

  size_t user = 0, principal = 0, credential = 0, assertion = 0, hosts = 0, xff = 0;
  for (const auto& f : got) {
    const std::string_view name = f.name_string();
    const std::string_view value = f.value();
    FUZZ_CHECK(!hasCtl(name) && !hasCtl(value), "CR, LF or NUL in an upstream header");
    FUZZ_CHECK(!name.empty(), "empty header name upstream");
    const std::string canon = canonical(name);
    FUZZ_CHECK(canon != "proxy-authorization", "Proxy-Authorization went upstream");
    FUZZ_CHECK(!(negotiate && canon == "authorization"),
               "Authorization went upstream on a negotiate route");
    if (canon == "authorization") {
      FUZZ_CHECK(!canonical(value).starts_with("negotiate"),
                 "a Negotiate token went upstream (the upstream could replay it)");
    }
    FUZZ_CHECK(canon != "expect", "Expect went upstream");
    if (canon == "cookie") {
      FUZZ_CHECK(!hasCookieNamed(value, kCookieName), "the session cookie went upstream");
    }
    if (canon == "host") ++hosts;
    if (canon == "x-forwarded-for") {
      ++xff;
      FUZZ_CHECK(value == kClientIp, "X-Forwarded-For is not the client's address");
    }
    if (!identityLike(canon, names)) continue;
    FUZZ_CHECK(negotiate, "identity header upstream on an auth: none route");
    // Only the proxy's own: exactly the configured name and the proxy's value.
    if (name == names.remote_user && value == kLocalName) {
      ++user;
    } else if (name == names.remote_principal && value == kPrincipal) {
      ++principal;
    } else if (name == names.credential && value == kHandle) {
      ++credential;
    } else if (name == names.assertion && value == kAssertion) {
      ++assertion;
    } else {
      FUZZ_CHECK(false, "identity header upstream that the proxy did not set");
    }
  }
  FUZZ_CHECK(hosts == 1, "not exactly one Host upstream");
  FUZZ_CHECK(xff == 1, "not exactly one X-Forwarded-For upstream");
  if (negotiate) {
    FUZZ_CHECK(user == 1 && principal == 1 && credential == 1 && assertion == 1,
               "the proxy's identity headers are not each there exactly once");
  }
}

// One request at the front of `in` (as HttpSession::handleExchange handles it). Returns the
// number of bytes it used, or 0 when the connection would close afterwards.
size_t oneRequest(const Setup& s, std::string_view in) {
  const auto& cfg = s.cfg;
  // readHeaderBlock(): a whole header block within limits.header_bytes, else 431 / wait.
  const size_t end = in.find("\r\n\r\n");
  if (end == std::string_view::npos || end + 4 > cfg.limits.header_bytes) return 0;
  if (gssgate::proxy::obsoleteLineFolding(in.substr(0, end + 4)) != nullptr) return 0;

  http::request_parser<http::buffer_body> parser;
  parser.header_limit(static_cast<uint32_t>(cfg.limits.header_bytes));
  parser.body_limit(cfg.limits.body_bytes);
  boost::system::error_code ec;
  size_t used = parser.put(net::buffer(in.data(), in.size()), ec);
  if (ec || !parser.is_header_done()) return 0;  // 400 / 413 / 431: connection closed
  auto& req = parser.get();
  if (gssgate::proxy::checkFraming(req, req.version()) != nullptr) return 0;
  if (parser.content_length() && *parser.content_length() > cfg.limits.body_bytes) return 0;
  if (req.method() == http::verb::connect) return 0;
  auto target = gssgate::proxy::normalizeTarget(req.target());
  if (!target) return 0;
  const Route* route = gssgate::proxy::matchRoute(cfg.routes, gssgate::proxy::routePathOf(*target));
  FUZZ_CHECK(route != nullptr, "no route although '/' is configured");
  if (auto expect = req.find(http::field::expect); expect != req.end()) {
    std::string_view v = expect->value();
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    std::string lower = canonical(v);
    if (lower != "100-continue") return 0;  // 417 (a body, if any, would linger unread)
  }

  // Built before the body is read, as forward() does (chunked trailers are never forwarded).
  const bool negotiate = route->auth == Route::Auth::kNegotiate;
  auto up = gssgate::proxy::buildUpstreamRequest(
      req, {.target = *target,
            .headers = &cfg.headers,
            .session_cookie = kCookieName,
            .negotiate = negotiate,
            .drop_authorization = negotiate ? gssgate::proxy::DropAuthorization::kAll
                                            : gssgate::proxy::DropAuthorization::kNegotiate,
            .local_name = negotiate ? kLocalName : std::string_view(),
            .principal = negotiate ? kPrincipal : std::string_view(),
            .credential_handle = negotiate ? kHandle : std::string_view(),
            .assertion = negotiate ? kAssertion : std::string_view(),
            .client_ip = kClientIp,
            .tls = false,
            .default_host = "127.0.0.1:8080",
            .chunked = parser.chunked(),
            .content_length = parser.content_length()});
  // The body, as forward() relays it.
  std::string body;
  char buf[512];
  while (!parser.is_done()) {
    req.body().data = buf;
    req.body().size = sizeof buf;
    size_t n = parser.put(net::buffer(in.data() + used, in.size() - used), ec);
    if (ec == http::error::need_buffer) ec = {};
    body.append(buf, sizeof buf - req.body().size);
    used += n;
    if (ec || (n == 0 && req.body().size == sizeof buf)) break;
  }
  const bool complete = parser.is_done() && !ec;

  if (!complete) {
    // Truncated body: the header would already be on its way; check it with an empty body
    // of the same framing where that is still a whole request (chunked, or no body).
    if (parser.chunked()) {
      std::string none;
      checkUpstream(s, req, parser, *route, *target, serialise(up, none), none);
    }
    return 0;
  }
  checkUpstream(s, req, parser, *route, *target, serialise(up, body), body);
  return req.keep_alive() ? used : 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Setup kDefault(false), kCustom(true);
  const std::string_view all(reinterpret_cast<const char*>(data), size);
  for (const Setup* s : {&kDefault, &kCustom}) {
    std::string_view in = all;
    for (int i = 0; i < kMaxPipelined && !in.empty(); ++i) {
      const size_t used = oneRequest(*s, in);
      if (used == 0) break;
      in.remove_prefix(used);
    }
  }
  return 0;
}

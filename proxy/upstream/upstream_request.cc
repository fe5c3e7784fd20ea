#include "proxy/upstream/upstream_request.h"

#include <string>
#include <vector>

#include "proxy/session/session_cookie.h"
#include "proxy/upstream/identity_headers.h"

namespace gssgate::proxy {

namespace http = boost::beast::http;

namespace {

// The proxy's own cookie is a credential: the upstream never sees it.
void stripSessionCookie(http::fields& fields, std::string_view name) {
  std::vector<std::string> kept;
  bool found = false;
  for (auto [it, end] = fields.equal_range(http::field::cookie); it != end; ++it) {
    if (it->value().find(name) == std::string_view::npos) {
      kept.emplace_back(it->value());
      continue;
    }
    found = true;
    std::string rest = removeCookie(it->value(), name);
    if (!rest.empty()) kept.push_back(std::move(rest));
  }
  if (!found) return;
  fields.erase(http::field::cookie);
  for (auto& v : kept) fields.insert(http::field::cookie, v);
}

}  // namespace

http::request<http::buffer_body> buildUpstreamRequest(const http::request_header<>& req,
                                                      const UpstreamRequestParams& p) {
  http::request<http::buffer_body> up;
  up.method_string(req.method_string());
  up.target(p.target);
  up.version(11);
  copyRequestHeaders(req, up, *p.headers, p.drop_authorization);
  if (!p.session_cookie.empty()) stripSessionCookie(up, p.session_cookie);
  if (p.negotiate) {
    up.set(p.headers->remote_user, p.local_name);
    up.set(p.headers->remote_principal, p.principal);
    if (!p.credential_handle.empty()) up.set(p.headers->credential, p.credential_handle);
    up.set(p.headers->assertion, p.assertion);
  }
  up.set("X-Forwarded-For", p.client_ip);
  up.set("X-Forwarded-Proto", p.tls ? "https" : "http");
  if (auto host = req.find(http::field::host); host != req.end()) {
    up.set("X-Forwarded-Host", host->value());
    up.set(http::field::host, host->value());  // even if the client named Host in Connection
  } else {
    up.set(http::field::host, p.default_host);
  }
  if (p.chunked) {
    up.chunked(true);
  } else if (p.content_length) {
    up.content_length(*p.content_length);
  }
  up.keep_alive(true);
  return up;
}

}  // namespace gssgate::proxy

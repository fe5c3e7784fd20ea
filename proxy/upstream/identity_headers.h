// Header hygiene between client and upstream. Nothing a client sends can look like an
// identity the proxy asserted: identity headers are matched case-insensitively and with '_'
// treated as '-' (many app servers map both to the same variable), and removed.
//
//   http::fields up;
//   copyRequestHeaders(req, up, cfg.headers, DropAuthorization::kAll);
//   up.set(cfg.headers.remote_user, localName);
//
// Thread-safety: pure functions.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <string_view>

#include "proxy/config.h"

namespace gssgate::proxy {

// True for the configured identity header names, X-Remote-User, X-Remote-Principal and any
// X-Gssgate-* — in any case, with '_' for '-'.
bool isIdentityHeader(std::string_view name, const HeaderNames& names);

// Which client `Authorization` fields are dropped. kAll on authenticated routes. On auth: none
// routes other schemes are the application's, but a Negotiate token is addressed to the proxy's
// own service principal (an upstream given an unused one could sign in to the proxy as the
// user), and with `basic` on, Basic carries the user's Kerberos password.
enum class DropAuthorization { kAll, kNegotiate, kNegotiateAndBasic };

// Copies end-to-end request headers: drops identity headers, hop-by-hop headers (including
// those named by Connection), Content-Length/Transfer-Encoding (the caller re-frames the body),
// Expect (handled by the proxy), Proxy-Authorization, client X-Forwarded-*/Forwarded, and
// Authorization as `drop` says.
void copyRequestHeaders(const boost::beast::http::fields& from, boost::beast::http::fields& to,
                        const HeaderNames& names, DropAuthorization drop);

// Copies end-to-end response headers (drops hop-by-hop and framing headers).
void copyResponseHeaders(const boost::beast::http::fields& from, boost::beast::http::fields& to);

}  // namespace gssgate::proxy

// The HTML pages a person sees when the proxy cannot sign them in: the body of a 401 sent to a
// browser (a configured page, or a built-in one that explains what to do — and moves on to the
// route's fallback sign-in when there is one), the page for a client that offered NTLM, and
// the page after logout. Non-browser clients get one line of text instead.
//
//   if (wantsHtml(req[http::field::accept])) body = unauthorizedPage(rt.unauthorized_page, route);
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "proxy/config.h"

namespace gssgate::proxy {

// True when an Accept header value names text/html (a browser navigating).
bool wantsHtml(std::string_view accept);

// `configured` is the unauthorized_page file's content ("" = built-in). With a fallback the
// built-in page forwards the browser there (meta refresh, plus a link); a configured page is
// sent as it is.
std::string unauthorizedPage(const std::string& configured, const Route& route);
// A client answered the Negotiate challenge with NTLM: Kerberos is required.
std::string kerberosRequiredPage(const Route& route);
std::string signedOutPage();

// Minimal HTML escaping for text and attribute values.
std::string htmlEscape(std::string_view text);

}  // namespace gssgate::proxy

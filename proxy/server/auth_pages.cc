#include "proxy/server/auth_pages.h"

#include "common/strings.h"

namespace gssgate::proxy {
namespace {

std::string page(std::string_view title, std::string_view head_extra, std::string_view body) {
  return strCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
      title, "</title>\n", head_extra,
      "<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;"
      "padding:0 1em;line-height:1.5;color:#222}code{background:#f3f3f3;padding:0 .2em}"
      "</style>\n</head><body>\n",
      body, "</body></html>\n");
}

}  // namespace

bool wantsHtml(std::string_view accept) {
  // Browsers navigating send "text/html,application/xhtml+xml,..."; API clients rarely do.
  for (size_t i = 0; i + 9 <= accept.size(); ++i) {
    if (equalsIgnoreCase(accept.substr(i, 9), "text/html")) return true;
  }
  return false;
}

std::string htmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string unauthorizedPage(const std::string& configured, const Route& route) {
  if (!configured.empty()) return configured;
  if (!route.fallback.empty()) {
    const std::string url = htmlEscape(route.fallback);
    return page("Sign in", strCat("<meta http-equiv=\"refresh\" content=\"0; url=", url, "\">\n"),
                strCat("<h1>Sign in</h1>\n<p>Your browser did not sign you in with Kerberos. "
                       "Continue to <a href=\"",
                       url, "\">the sign-in page</a>.</p>\n"));
  }
  return page("Kerberos sign-in required", "",
              "<h1>Kerberos sign-in required</h1>\n"
              "<p>This site signs you in with your Kerberos (Active Directory) account, and your "
              "browser did not offer one.</p>\n<ul>\n"
              "<li>Get a ticket: on Linux or macOS run <code>kinit</code>; on Windows, sign in to "
              "the domain.</li>\n"
              "<li>Allow your browser to use it for this site: Chrome/Edge "
              "<code>AuthServerAllowlist</code> policy (or <code>--auth-server-allowlist</code>), "
              "Firefox <code>network.negotiate-auth.trusted-uris</code>.</li>\n"
              "<li>Then reload this page. If it still fails, contact your administrator.</li>\n"
              "</ul>\n");
}

std::string kerberosRequiredPage(const Route& route) {
  std::string more;
  if (!route.fallback.empty()) {
    more = strCat("<p>You can <a href=\"", htmlEscape(route.fallback),
                  "\">sign in another way</a>.</p>\n");
  }
  return page("Kerberos required", "",
              strCat("<h1>Kerberos required</h1>\n<p>Your browser offered NTLM, which this "
                     "site does not accept. It signs you in with Kerberos only: use a "
                     "computer joined to the domain, or get a Kerberos ticket first.</p>\n",
                     more));
}

std::string signedOutPage() {
  return page("Signed out", "",
              "<h1>Signed out</h1>\n<p>Your session here has ended. Opening the site again "
              "signs you in again with your Kerberos ticket; to stop that, end the ticket "
              "(<code>kdestroy</code>) or close the browser.</p>\n");
}

}  // namespace gssgate::proxy

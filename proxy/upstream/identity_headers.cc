#include "proxy/upstream/identity_headers.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "common/strings.h"
#include "proxy/server/field_range.h"

namespace gssgate::proxy {

namespace http = boost::beast::http;

namespace {

// Lower case with '_' → '-'.
std::string canonical(std::string_view name) {
  std::string out = toLowerAscii(name);
  for (char& c : out) {
    if (c == '_') c = '-';
  }
  return out;
}

constexpr std::array<std::string_view, 10> kHopByHop = {"connection",
                                                        "keep-alive",
                                                        "proxy-connection",
                                                        "te",
                                                        "trailer",
                                                        "transfer-encoding",
                                                        "upgrade",
                                                        "proxy-authorization",
                                                        "proxy-authenticate",
                                                        "content-length"};

bool isHopByHop(const std::string& canon) {
  for (auto h : kHopByHop) {
    if (canon == h) return true;
  }
  return false;
}

// Header names listed in Connection: (e.g. "Connection: close, X-Foo").
std::vector<std::string> connectionTokens(const http::fields& f) {
  std::vector<std::string> out;
  for (const auto& c : fieldRange(f.equal_range(http::field::connection))) {
    for (auto tok : splitTrimmed(c.value(), ',')) {
      if (!tok.empty()) out.push_back(canonical(tok));
    }
  }
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v) {
    if (x == s) return true;
  }
  return false;
}

// The configured identity header names in canonical form, computed once per request rather
// than once per (request header × configured name).
std::array<std::string, 4> canonicalNames(const HeaderNames& names) {
  return {canonical(names.remote_user), canonical(names.remote_principal),
          canonical(names.credential), canonical(names.assertion)};
}

bool isIdentityCanonical(const std::string& canon, const std::array<std::string, 4>& configured) {
  if (canon.starts_with("x-gssgate-")) return true;
  if (canon == "x-remote-user" || canon == "x-remote-principal") return true;
  for (const auto& n : configured) {
    if (canon == n) return true;
  }
  return false;
}

}  // namespace

bool isIdentityHeader(std::string_view name, const HeaderNames& names) {
  return isIdentityCanonical(canonical(name), canonicalNames(names));
}

namespace {

// Headers some frameworks and servers trust for the client address or for the path to route by
// (IIS/Symfony's X-Original-URL, X-Rewrite-URL); a client must not set them past the proxy,
// which routed and authorised the request by its real target and address.
bool isClientSpoofable(std::string_view canon) {
  static constexpr std::array<std::string_view, 7> kNames = {
      "x-real-ip",      "x-client-ip",   "true-client-ip",     "x-original-url",
      "x-original-uri", "x-rewrite-url", "x-cluster-client-ip"};
  return canon == "expect" || canon == "forwarded" || canon.starts_with("x-forwarded-") ||
         std::ranges::find(kNames, canon) != kNames.end();
}

// Matched by prefix, not by the exact scheme token: "Negotiate<junk>" is no valid header, but
// whatever some parser downstream makes of it, a token must not reach the upstream.
bool droppedAuthorization(std::string_view value, DropAuthorization drop) {
  if (drop == DropAuthorization::kAll) return true;
  value = trimAscii(value);
  const auto startsWith = [&](std::string_view scheme) {
    return value.size() >= scheme.size() &&
           equalsIgnoreCase(value.substr(0, scheme.size()), scheme);
  };
  if (startsWith("negotiate")) return true;
  return drop == DropAuthorization::kNegotiateAndBasic && startsWith("basic");
}

}  // namespace

void copyRequestHeaders(const http::fields& from, http::fields& to, const HeaderNames& names,
                        DropAuthorization drop) {
  const auto named = connectionTokens(from);
  const auto configured = canonicalNames(names);
  for (const auto& f : from) {
    std::string canon = canonical(f.name_string());
    if (isHopByHop(canon) || contains(named, canon) || isIdentityCanonical(canon, configured)) {
      continue;
    }
    if (isClientSpoofable(canon)) continue;
    if (canon == "authorization" && droppedAuthorization(f.value(), drop)) continue;
    to.insert(f.name_string(), f.value());
  }
}

void copyResponseHeaders(const http::fields& from, http::fields& to) {
  const auto named = connectionTokens(from);
  for (const auto& f : from) {
    std::string canon = canonical(f.name_string());
    if (isHopByHop(canon) || contains(named, canon)) continue;
    to.insert(f.name_string(), f.value());
  }
}

}  // namespace gssgate::proxy

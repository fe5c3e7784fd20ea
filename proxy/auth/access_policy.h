// Route selection and principal authorization.
//
//   const Route* route = matchRoute(cfg.routes, "/app/x");   // longest prefix, segment-wise
//   if (const char* why = accessRefusal(*route, "alice@EXAMPLE.COM")) → 403 (why: for logs)
//
// Thread-safety: pure functions over immutable config.
#pragma once

#include <string_view>
#include <vector>

#include "common/glob_match.h"
#include "proxy/config.h"

namespace gssgate::proxy {

// `routes` must be sorted longest-path first (as loadProxyConfig leaves them). A prefix matches
// on a segment boundary: "/app" matches "/app", "/app/", "/app/x", not "/apple".
// Returns nullptr when no route matches (only possible when there is no "/" route).
const Route* matchRoute(const std::vector<Route>& routes, std::string_view path);

// Principal globs: see common/glob_match.h.
using gssgate::globMatch;

// True if the route has no allow list or the principal matches one of its globs.
bool principalAllowed(const Route& route, std::string_view principal);

// The whole check, in order: realm restriction (`realms`, exact), then `deny` globs (a match
// refuses even an allowed principal), then `allow`. nullptr when access is granted, else the
// reason: "realm_not_allowed", "denied" or "not_allowed" (all answered with 403).
const char* accessRefusal(const Route& route, std::string_view principal);

// The realm of "name@REALM" (after the last unescaped '@'); "" when there is none.
std::string_view realmOf(std::string_view principal);

}  // namespace gssgate::proxy

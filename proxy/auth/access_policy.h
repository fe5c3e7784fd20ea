// Route selection and principal authorization.
//
//   const Route* route = matchRoute(cfg.routes, "/app/x");   // longest prefix, segment-wise
//   if (!principalAllowed(*route, "alice@EXAMPLE.COM")) → 403
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

}  // namespace gssgate::proxy

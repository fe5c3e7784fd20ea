#include "proxy/auth/access_policy.h"

namespace gssgate::proxy {

const Route* matchRoute(const std::vector<Route>& routes, std::string_view path) {
  for (const Route& r : routes) {
    if (r.path == "/") return &r;
    if (!path.starts_with(r.path)) continue;
    if (path.size() == r.path.size() || path[r.path.size()] == '/') return &r;
  }
  return nullptr;
}

std::string_view realmOf(std::string_view principal) {
  // The realm follows the last unescaped '@' (a '\@' in the name part is a literal '@').
  for (size_t i = principal.size(); i-- > 0;) {
    if (principal[i] != '@') continue;
    size_t backslashes = 0;
    for (size_t j = i; j-- > 0 && principal[j] == '\\';) ++backslashes;
    if (backslashes % 2 == 0) return principal.substr(i + 1);
  }
  return {};
}

const char* accessRefusal(const Route& route, std::string_view principal) {
  if (!route.realms.empty()) {
    const std::string_view realm = realmOf(principal);
    bool ok = false;
    for (const auto& r : route.realms) ok = ok || r == realm;
    if (!ok) return "realm_not_allowed";
  }
  for (const auto& glob : route.deny) {
    if (globMatch(glob, principal)) return "denied";
  }
  return principalAllowed(route, principal) ? nullptr : "not_allowed";
}

bool principalAllowed(const Route& route, std::string_view principal) {
  if (route.allow.empty()) return true;
  for (const auto& glob : route.allow) {
    if (globMatch(glob, principal)) return true;
  }
  return false;
}

}  // namespace gssgate::proxy

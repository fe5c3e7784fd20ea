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

bool principalAllowed(const Route& route, std::string_view principal) {
  if (route.allow.empty()) return true;
  for (const auto& glob : route.allow) {
    if (globMatch(glob, principal)) return true;
  }
  return false;
}

}  // namespace gssgate::proxy

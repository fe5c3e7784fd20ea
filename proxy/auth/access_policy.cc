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

bool globMatch(std::string_view pattern, std::string_view text) {
  // Iterative matcher with single-star backtracking: linear in practice, no recursion.
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    // '*' first: a '*' in the pattern is always a wildcard, never a literal match for a '*'
    // in the text (that would skip recording the backtracking point).
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool principalAllowed(const Route& route, std::string_view principal) {
  if (route.allow.empty()) return true;
  for (const auto& glob : route.allow) {
    if (globMatch(glob, principal)) return true;
  }
  return false;
}

}  // namespace gssgate::proxy

#include "broker/policy.h"

namespace gssgate::broker {
namespace {

bool glob(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
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

}  // namespace

PolicyDecision decide(const std::vector<PolicyEntry>& policy, uid_t uid, std::string_view service) {
  for (const auto& e : policy) {
    if (e.uid && *e.uid != uid) continue;
    for (const auto& g : e.services) {
      if (glob(g, service)) return PolicyDecision{true, e.allow_tgt};
    }
  }
  return {};
}

}  // namespace gssgate::broker

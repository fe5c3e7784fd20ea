#include "broker/policy.h"

#include "common/glob_match.h"

namespace gssgate::broker {

PolicyDecision decide(const std::vector<PolicyEntry>& policy, uid_t uid, std::string_view service) {
  for (const auto& e : policy) {
    if (e.uid && *e.uid != uid) continue;
    for (const auto& g : e.services) {
      if (globMatch(g, service)) return PolicyDecision{true, e.allow_tgt};
    }
  }
  return {};
}

}  // namespace gssgate::broker

#include "client/doctor/policy_check.h"

#include "broker/policy.h"
#include "common/strings.h"

namespace gssgate::client {
namespace {

std::string uidText(const std::optional<uid_t>& uid) {
  return uid ? std::to_string(*uid) : std::string("any");
}

std::string describeEntry(size_t index, const broker::PolicyEntry& e) {
  return strCat("entry ", index + 1, ": uid ", uidText(e.uid), " -> ", join(e.services, ", "),
                e.allow_tgt ? " (+TGT)" : "");
}

}  // namespace

CheckResult checkPolicy(const std::vector<broker::PolicyEntry>& policy, std::optional<uid_t> uid,
                        std::string_view service) {
  if (!uid) {
    if (policy.empty()) {
      return {Verdict::kWarn, "policy",
              "the broker's policy is empty: it grants nothing, every redemption is refused",
              "add an entry to the broker's config, e.g. policy: [{uid: 1000, services: "
              "[\"postgres/*\"]}]"};
    }
    std::vector<std::string> entries;
    for (size_t i = 0; i < policy.size(); ++i) entries.push_back(describeEntry(i, policy[i]));
    return {Verdict::kOk, "policy", join(entries, "; "), ""};
  }
  // The broker's decide() on the whole policy is the answer; the same function on each entry
  // alone tells which entry gave it (the first match decides).
  const broker::PolicyDecision decision = broker::decide(policy, *uid, service);
  if (decision.allowed) {
    for (size_t i = 0; i < policy.size(); ++i) {
      if (broker::decide({policy[i]}, *uid, service).allowed) {
        return {
            Verdict::kOk, "policy",
            strCat("uid ", *uid, " may redeem ", service, " (policy ", describeEntry(i, policy[i]),
                   ")", decision.allow_tgt ? "; it also gets the user's TGT" : ""),
            ""};
      }
    }
  }
  std::string glob(service);
  if (const size_t slash = glob.find('/'); slash != std::string::npos) {
    glob = strCat(glob.substr(0, slash), "/*");
  }
  return {Verdict::kFail, "policy",
          strCat("no policy entry grants ", service, " to uid ", *uid,
                 policy.empty() ? " (the policy is empty)" : ""),
          strCat("add to the broker's policy: - uid: ", *uid, "  services: [\"", glob,
                 "\"]  (then SIGHUP gssgate-broker)")};
}

}  // namespace gssgate::client

// Which caller (by kernel-reported uid) may obtain tickets for which service.
//
//   PolicyDecision d = decide(cfg.policy, callerUid, "postgres/db.example.com");
//   if (!d.allowed) → PERMISSION_DENIED
//
// An empty policy grants nothing. Entries are checked in order; the first entry whose uid
// matches and one of whose globs matches the service decides.
// Thread-safety: pure function over immutable config.
#pragma once

#include <sys/types.h>

#include <string_view>
#include <vector>

#include "broker/config.h"

namespace gssgate::broker {

struct PolicyDecision {
  bool allowed = false;
  bool allow_tgt = false;
};

PolicyDecision decide(const std::vector<PolicyEntry>& policy, uid_t uid, std::string_view service);

}  // namespace gssgate::broker

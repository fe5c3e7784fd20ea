// The `policy` check of gssgatectl doctor: the broker's redemption policy, evaluated with the
// broker's own code (broker/policy.h), so the answer is the broker's answer.
//
//   report.add(checkPolicy(cfg.policy, 1000, "postgres/db.example.com"));  // sample
//   report.add(checkPolicy(cfg.policy, std::nullopt, ""));                 // what it grants
//
// Thread-safety: pure function.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string_view>
#include <vector>

#include "broker/config.h"
#include "client/doctor/doctor_report.h"

namespace gssgate::client {

CheckResult checkPolicy(const std::vector<broker::PolicyEntry>& policy, std::optional<uid_t> uid,
                        std::string_view service);

}  // namespace gssgate::client

#include "proxy/server/descriptor_limit.h"

#include <algorithm>

#include "common/logging.h"

namespace gssgate::proxy {

DescriptorPlan planDescriptors(uint64_t max_connections, const rlimit& current) {
  DescriptorPlan plan;
  plan.needed = 2 * max_connections + kReservedDescriptors;
  plan.soft = current.rlim_cur;
  if (current.rlim_cur == RLIM_INFINITY || current.rlim_cur >= plan.needed) return plan;
  // Raise the soft limit as far as needed, within the hard limit (any process may).
  const rlim_t want = static_cast<rlim_t>(plan.needed);
  plan.soft = current.rlim_max == RLIM_INFINITY ? want : std::min(want, current.rlim_max);
  plan.insufficient = plan.soft < max_connections + kReservedDescriptors;
  return plan;
}

void applyDescriptorPlan(uint64_t max_connections) {
  auto log = logger("proxy");
  rlimit current{};
  if (::getrlimit(RLIMIT_NOFILE, &current) != 0) return;
  const DescriptorPlan plan = planDescriptors(max_connections, current);
  rlim_t in_force = current.rlim_cur;
  if (plan.soft != current.rlim_cur) {
    rlimit raised = current;
    raised.rlim_cur = plan.soft;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      log->debug("raised the open-file limit from {} to {}", current.rlim_cur, plan.soft);
      in_force = plan.soft;
    }
  }
  if (in_force != RLIM_INFINITY && in_force < max_connections + kReservedDescriptors) {
    log->warn(
        "limits.max_connections {} needs up to {} open files (a client and an upstream "
        "connection each), but RLIMIT_NOFILE is {}: beyond ~{} busy connections upstream "
        "connects fail (502) and accept() fails (clients wait); raise it (ulimit -n, systemd "
        "LimitNOFILE=) or lower limits.max_connections",
        max_connections, plan.needed, in_force,
        in_force > kReservedDescriptors ? (in_force - kReservedDescriptors) / 2 : 0);
  }
}

}  // namespace gssgate::proxy

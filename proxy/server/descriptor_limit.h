// The descriptor budget of the proxy: each client connection may hold an upstream connection
// too, so `limits.max_connections` needs about twice as many descriptors plus a reserve. With
// fewer, upstream connects fail under full load (502); with fewer than max_connections plus
// the reserve, accept() fails with EMFILE before max_connections applies (clients then wait in
// the listen backlog; the accept loop backs off).
//
//   auto plan = planDescriptors(cfg.limits.max_connections, current);  // pure
//   applyDescriptorPlan(cfg.limits.max_connections);  // raises the soft limit, warns if short
//
// Thread-safety: call at start-up, before the worker threads open descriptors.
#pragma once

#include <sys/resource.h>

#include <cstdint>

namespace gssgate::proxy {

inline constexpr uint64_t kReservedDescriptors = 64;  // logs, keytab, replay cache, epoll, ...

struct DescriptorPlan {
  uint64_t needed = 0;  // 2 * max_connections + kReservedDescriptors
  rlim_t soft = 0;      // the soft limit to set (raised towards `needed`, never past hard)
  // Even then fewer than max_connections + kReservedDescriptors: max_connections cannot be
  // reached at all (a shortfall only in upstream descriptors shows as 502s under full load).
  bool insufficient = false;
};

DescriptorPlan planDescriptors(uint64_t max_connections, const rlimit& current);

// Applies planDescriptors() to RLIMIT_NOFILE and logs a warning when the limit stays short.
void applyDescriptorPlan(uint64_t max_connections);

}  // namespace gssgate::proxy

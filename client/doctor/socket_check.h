// The broker socket checks of gssgatectl doctor: each socket file exists, is a socket, has the
// owner, group and mode the broker's config asks for, and the deposit socket (which takes
// users' TGTs) cannot be connected to by other users; then grpc.health.v1 on it.
//
//   report.add(checkSocketFile({.name = "socket:listen", .path = cfg.backend.path, ...}));
//   report.add(checkBrokerHealth("broker:listen", cfg.backend.path, 5s));
//
// Thread-safety: no shared state.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "client/doctor/doctor_report.h"

namespace gssgate::client {

struct SocketExpectation {
  std::string name;  // check name, e.g. "socket:deposit_listen"
  std::string path;
  std::string config_key;  // e.g. "deposit_listen" (for the fix text)
  std::optional<mode_t> mode;
  std::optional<uid_t> owner;
  std::optional<gid_t> group;
  bool deposit = false;  // the proxy's socket: must not be connectable by others
};

// Pure verdict from lstat's result: `st` null when lstat failed with `lstat_errno`.
CheckResult evaluateSocketFile(const SocketExpectation& want, const struct stat* st,
                               int lstat_errno);

CheckResult checkSocketFile(const SocketExpectation& want);

// grpc.health.v1 Check on `path` within `timeout`.
CheckResult checkBrokerHealth(const std::string& name, const std::string& path,
                              std::chrono::milliseconds timeout);

}  // namespace gssgate::client

// The command line of `gssgatectl doctor`, parsed without any I/O.
//
//   auto opts = parseDoctorArgs({"--proxy-config", "/etc/gssgate/proxy.yaml"});
//   if (!opts.ok()) → "gssgatectl: " + message, exit 2
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gssgate::client {

struct DoctorOptions {
  bool help = false;
  std::string proxy_config;   // --proxy-config FILE: checked with the proxy's own loader
  std::string broker_config;  // --broker-config FILE: checked with the broker's own loader
  std::string uid;            // --uid N|NAME: sample redemption caller (with --service)
  std::string service;        // --service SPN: sample redemption target, e.g. postgres/db
  bool json = false;          // --json: one JSON object instead of lines
  std::chrono::milliseconds timeout{5000};  // --timeout SECONDS: each broker call
};

// Parses the arguments after "doctor". Errors are INVALID_ARGUMENT with one line for the user.
absl::StatusOr<DoctorOptions> parseDoctorArgs(const std::vector<std::string>& args);

// The text of `gssgatectl doctor --help`.
std::string doctorUsage();

}  // namespace gssgate::client

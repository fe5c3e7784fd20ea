// The command line of gssgatectl, parsed without any I/O (so it can be tested on its own).
//
//   auto opts = parseCtlArgs({"credential", "--broker", "unix:/run/b.sock", "--service",
//                             "postgres/db"}, std::getenv("GSSGATE_HANDLE"));
//   if (!opts.ok()) → print "gssgatectl: " + message, exit 2
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/doctor/doctor_options.h"
#include "common/secure_wipe.h"

namespace gssgate::client {

enum class CtlCommand {
  kHelp,
  kVersion,
  kCredential,        // redeem a handle into a ccache file
  kRevoke,            // revoke the credential behind a handle
  kList,              // list stored credentials (deposit socket)
  kRevokeCredential,  // revoke by credential id (deposit socket)
  kHealth,            // grpc.health.v1 check
  kDoctor,            // check a deployment (client/doctor/)
};

struct CtlOptions {
  CtlCommand command = CtlCommand::kHelp;
  std::string broker;         // "unix:/path"
  SecretString handle;        // from --handle or GSSGATE_HANDLE; empty when handle_file is set
  std::string handle_file;    // --handle-file; "-" is standard input. Read by the runner.
  std::string service;        // credential: target service, e.g. "postgres/db.example.com"
  std::string out;            // credential: --out FILE; empty = a new private temp file
  std::string credential_id;  // revoke-credential: --id
  std::chrono::milliseconds timeout{5000};  // --timeout SECONDS: deadline of each broker call
  DoctorOptions doctor;                     // doctor: its own options (doctor_options.h)
};

// Parses the arguments after the program name. `env_handle` is the value of GSSGATE_HANDLE, or
// null when it is unset; it is used only by commands that take a handle and only when neither
// --handle nor --handle-file is given. Options may be written `--name value` or `--name=value`.
// Errors are INVALID_ARGUMENT with one line meant for the user (gssgatectl exits 2).
// `doctor` must be the first argument; what follows it is parsed by parseDoctorArgs().
absl::StatusOr<CtlOptions> parseCtlArgs(const std::vector<std::string>& args,
                                        const char* env_handle);

// The --help text.
std::string ctlUsage();

}  // namespace gssgate::client

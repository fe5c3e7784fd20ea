// Runs `gssgatectl doctor`: loads the configurations with the daemons' own loaders and runs
// every check that applies, in order (configs, keytab, KDC, replay cache, sockets, broker,
// policy). A check that cannot run because an earlier one failed is reported as skip.
//
//   auto opts = parseDoctorArgs(args);
//   return opts.ok() ? runDoctor(*opts, std::cout, std::cerr) : 2;
//
// Thread-safety: no shared state; reads the environment (KRB5RCACHENAME, KRB5RCACHEDIR).
#pragma once

#include <iosfwd>

#include "client/doctor/doctor_options.h"
#include "client/doctor/doctor_report.h"

namespace gssgate::client {

// All the checks; no output.
DoctorReport diagnose(const DoctorOptions& options);

// Prints the report (text or JSON) to `out`; returns 0 (no FAIL), 1 (a FAIL) or 2 (usage:
// an unknown --uid user, with one line on `err`).
int runDoctor(const DoctorOptions& options, std::ostream& out, std::ostream& err);

}  // namespace gssgate::client

// Runs one parsed gssgatectl command against the broker (the whole CLI except main()).
//
//   auto opts = parseCtlArgs(args, std::getenv("GSSGATE_HANDLE"));
//   return opts.ok() ? runCtl(*opts, std::cin, std::cout, std::cerr) : 2;
//
// Results go to `out`; a failure writes exactly one line "gssgatectl: <reason>" to `err`.
// Never writes a handle or ticket anywhere but the requested ccache file.
// Thread-safety: no shared state; each call is independent.
#pragma once

#include <iosfwd>

#include "client/ctl/ctl_options.h"

namespace gssgate::client {

inline constexpr int kCtlExitOk = 0;
inline constexpr int kCtlExitFailure = 1;  // the broker said no, was unreachable, or file I/O
inline constexpr int kCtlExitUsage = 2;

// Returns the exit status. `in` is read only for --handle-file -.
int runCtl(const CtlOptions& options, std::istream& in, std::ostream& out, std::ostream& err);

// "gssgatectl: <message>" reduced to one printable line (for `err`).
std::string ctlErrorLine(std::string_view message);

}  // namespace gssgate::client

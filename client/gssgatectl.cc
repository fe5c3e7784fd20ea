// gssgatectl: wiring only — arguments in, runCtl() does the work (client/ctl/).
#include <grpc/support/log.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "client/ctl/ctl_options.h"
#include "client/ctl/ctl_runner.h"
#include "common/secure_wipe.h"
#include "common/strings.h"

namespace {

// Best effort against `ps`: overwrites the value of --handle in our own argv, which is what
// /proc/PID/cmdline shows. (It was visible until now; --handle-file avoids that window.)
void scrubHandleFromArgv(int argc, char** argv) {
  constexpr std::string_view kFlag = "--handle";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == kFlag && i + 1 < argc) {
      gssgate::secureWipe(argv[i + 1], std::strlen(argv[i + 1]));
      ++i;
    } else if (arg.starts_with("--handle=")) {
      gssgate::secureWipe(argv[i] + kFlag.size() + 1, arg.size() - kFlag.size() - 1);
    }
  }
}

// gRPC's own log lines would break the one-line error contract; its errors reach us as Status.
void quietGrpcLog(gpr_log_func_args* /*args*/) {}

}  // namespace

int main(int argc, char** argv) {
  gpr_set_log_function(quietGrpcLog);
  std::vector<std::string> args(argv + 1, argv + argc);
  // Single-threaded still: gRPC starts its threads with the first channel, later.
  const char* env_handle = std::getenv("GSSGATE_HANDLE");  // NOLINT(concurrency-mt-unsafe)
  auto options = gssgate::client::parseCtlArgs(args, env_handle);
  for (std::string& arg : args) gssgate::secureWipe(arg);
  scrubHandleFromArgv(argc, argv);
  if (!options.ok()) {
    std::cerr << gssgate::client::ctlErrorLine(gssgate::messageOf(options.status())) << '\n';
    return gssgate::client::kCtlExitUsage;
  }
  return gssgate::client::runCtl(*options, std::cin, std::cout, std::cerr);
}

#include "common/daemon_args.h"

#include <cstdio>

namespace gssgate {

std::variant<DaemonArgs, int> parseDaemonArgs(int argc, char** argv, const char* program,
                                              const char* usage) {
  DaemonArgs out;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--version") {
      std::printf("%s %s\n", program, GSSGATE_VERSION);
      return 0;
    }
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage, stdout);
      return 0;
    }
    if (arg == "--check-config") {
      out.check_only = true;
    } else if (arg == "--config" && i + 1 < argc) {
      out.config = argv[++i];
    } else if (arg.starts_with("--config=")) {
      out.config = arg.substr(9);
    } else {
      std::fprintf(stderr, "%s: unknown or incomplete option '%s'\n", program, arg.c_str());
      std::fputs(usage, stderr);
      return 2;
    }
  }
  if (out.config.empty()) {
    std::fprintf(stderr, "%s: --config FILE is required\n", program);
    std::fputs(usage, stderr);
    return 2;
  }
  return out;
}

}  // namespace gssgate

// The command line both daemons share: --config FILE (or --config=FILE), --check-config,
// --version, --help. Prints version/usage/errors itself.
//
//   auto args = parseDaemonArgs(argc, argv, "gssgate-proxy", usageText);
//   if (auto* code = std::get_if<int>(&args)) return *code;   // 0 after --version/--help, 2 on
//   misuse const DaemonArgs& a = std::get<DaemonArgs>(args);
//
// Thread-safety: call once from main.
#pragma once

#include <string>
#include <variant>

namespace gssgate {

struct DaemonArgs {
  std::string config;
  bool check_only = false;
};

std::variant<DaemonArgs, int> parseDaemonArgs(int argc, char** argv, const char* program,
                                              const char* usage);

}  // namespace gssgate

// gssgate-proxy: wiring only — arguments, config, logging, then the server.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "common/krb5_thread_context.h"
#include "common/logging.h"
#include "proxy/server/runtime.h"
#include "proxy/server/server.h"

namespace {

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: gssgate-proxy --config FILE [--check-config]\n"
               "       gssgate-proxy --version\n"
               "\n"
               "  --config FILE    YAML configuration (see README: Configuration)\n"
               "  --check-config   validate FILE (syntax, values, keytab) and exit\n"
               "  --version        print the version and exit\n"
               "Signals: SIGHUP reloads config and keytab; SIGTERM drains and exits 0.\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string config;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--version") {
      std::printf("gssgate-proxy %s\n", GSSGATE_VERSION);
      return 0;
    }
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    }
    if (arg == "--check-config") {
      check = true;
    } else if (arg == "--config" && i + 1 < argc) {
      config = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config = arg.substr(9);
    } else {
      std::fprintf(stderr, "gssgate-proxy: unknown or incomplete option '%s'\n", arg.c_str());
      usage(stderr);
      return 2;
    }
  }
  if (config.empty()) {
    std::fprintf(stderr, "gssgate-proxy: --config FILE is required\n");
    usage(stderr);
    return 2;
  }

  auto runtime = gssgate::proxy::buildRuntime(config);
  if (!runtime.ok()) {
    std::cerr << runtime.status().message() << "\n";
    return 1;
  }
  if (check) {
    std::printf("config OK: %s\n", config.c_str());
    return 0;
  }
  if (auto st = gssgate::setupLogging((*runtime)->config->log); !st.ok()) {
    std::cerr << st.message() << "\n";
    return 1;
  }
  // A krb5 context alive for the whole process keeps MIT's parsed krb5.conf cached; without
  // it every context the GSS library creates per accept re-reads the file (bench/ measured
  // ~30% of a handshake's CPU).
  (void)gssgate::threadKrb5Context();
  gssgate::proxy::Server server(config, *runtime);
  return server.run();
}

// gssgate-proxy: wiring only — arguments, config, logging, then the server.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <variant>

#include "common/daemon_args.h"
#include "common/krb5_thread_context.h"
#include "common/logging.h"
#include "proxy/server/runtime.h"
#include "proxy/server/server.h"

namespace {

constexpr const char* kUsage =
    "usage: gssgate-proxy --config FILE [--check-config]\n"
    "       gssgate-proxy --version\n"
    "\n"
    "  --config FILE    YAML configuration (see README: Configuration)\n"
    "  --check-config   validate FILE (syntax, values, keytab) and exit\n"
    "  --version        print the version and exit\n"
    "Signals: SIGHUP reloads config and keytab; SIGTERM drains and exits 0.\n";

}  // namespace

int main(int argc, char** argv) {
  auto parsed = gssgate::parseDaemonArgs(argc, argv, "gssgate-proxy", kUsage);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  const std::string config = std::get<gssgate::DaemonArgs>(parsed).config;
  const bool check = std::get<gssgate::DaemonArgs>(parsed).check_only;

  gssgate::proxy::Metrics metrics;  // outlives the server and every runtime that points into it
  auto runtime = gssgate::proxy::buildRuntime(config, &metrics);
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
  gssgate::proxy::Server server(config, *runtime, metrics);
  return server.run();
}

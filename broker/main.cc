// gssgate-broker: placeholder until the credential broker lands (issue 3).
#include <cstdio>
#include <cstring>

#include "gssgate/v1/broker.pb.h"

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--version") == 0) {
    gssgate::v1::StoredCredential probe;  // proves the generated API links
    probe.set_principal(GSSGATE_VERSION);
    std::printf("gssgate-broker %s\n", probe.principal().c_str());
    return 0;
  }
  std::fprintf(stderr, "gssgate-broker: not implemented yet in this version\n");
  return 1;
}

// A hermetic Kerberos environment for the broker fuzz targets, set up once before the first
// krb5 call: a krb5.conf of our own (no KDC anywhere and no DNS lookups, so a redeem fails at
// once instead of touching the network), MEMORY default caches and keytabs, logging off.
#pragma once

#include <google/protobuf/stubs/logging.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/logging.h"

namespace gssgate::fuzz {

inline void useHermeticKrb5() {
  static const bool done = [] {
    std::string path = "/tmp/gssgate-fuzz-krb5-XXXXXX";
    const int fd = mkstemp(path.data());
    if (fd >= 0) {
      static constexpr char kConf[] =
          "[libdefaults]\n default_realm = GSSGATE.TEST\n dns_lookup_kdc = false\n"
          " dns_lookup_realm = false\n rdns = false\n dns_canonicalize_hostname = false\n";
      (void)!write(fd, kConf, sizeof kConf - 1);
      close(fd);
    }
    setenv("KRB5_CONFIG", fd >= 0 ? path.c_str() : "/dev/null", 1);
    setenv("KRB5CCNAME", "MEMORY:gssgate-fuzz-default", 1);
    setenv("KRB5_KTNAME", "MEMORY:gssgate-fuzz-keytab", 1);
    setenv("KRB5_CLIENT_KTNAME", "MEMORY:gssgate-fuzz-client-keytab", 1);
    unsetenv("KRB5_TRACE");
    // krb5 reads KRB5_CONFIG when a context is made; the file can go right away after that,
    // but contexts are per thread and made lazily, so keep it for the process's life.
    static const std::string keep = path;
    std::atexit([] { unlink(keep.c_str()); });
    setLogLevel("off");
    // Protobuf logs every string field with invalid UTF-8 it refuses; that is expected here.
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)done;
}

}  // namespace gssgate::fuzz

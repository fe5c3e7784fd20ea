// Keeps krb5 and GSS-API calls in unit tests off the machine's Kerberos setup: KRB5_CONFIG
// points at an empty file of our own and the default ccache and keytabs are MEMORY ones, so no
// test reads /etc/krb5.conf, a real ticket cache or a keytab, or contacts a KDC.
//
//   TEST(Foo, Bar) {
//     useHermeticKrb5();  // before the first krb5/GSS call of the test
//     ...
//   }
//
// Thread-safety: call from the test's main thread; the first call sets environment variables.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <string>

namespace gssgate::testing {

// Path of the empty krb5.conf, removed when the test process exits.
class EmptyKrb5Config {
 public:
  EmptyKrb5Config() {
    std::string tmpl = "/tmp/gssgate-unit-krb5-XXXXXX";
    const int fd = mkstemp(tmpl.data());
    if (fd >= 0) {
      close(fd);
      path_ = tmpl;
    }
  }
  EmptyKrb5Config(const EmptyKrb5Config&) = delete;
  EmptyKrb5Config& operator=(const EmptyKrb5Config&) = delete;
  EmptyKrb5Config(EmptyKrb5Config&&) = delete;
  EmptyKrb5Config& operator=(EmptyKrb5Config&&) = delete;
  ~EmptyKrb5Config() {
    if (!path_.empty()) unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline void useHermeticKrb5() {
  static const EmptyKrb5Config config;
  // /dev/null is an empty file too, should mkstemp fail (read-only /tmp).
  setenv("KRB5_CONFIG", config.path().empty() ? "/dev/null" : config.path().c_str(), 1);
  setenv("KRB5CCNAME", "MEMORY:gssgate-unit-default", 1);
  setenv("KRB5_KTNAME", "MEMORY:gssgate-unit-keytab", 1);
  setenv("KRB5_CLIENT_KTNAME", "MEMORY:gssgate-unit-client-keytab", 1);
  setenv("KRB5_TRACE", "/dev/null", 1);
}

}  // namespace gssgate::testing

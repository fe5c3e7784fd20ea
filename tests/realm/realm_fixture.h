// A throw-away MIT Kerberos realm (GSSGATE.TEST) for GoogleTest, on a random loopback port.
// Drives tests/realm/gssgate_realm.py (`up` / `kinit` / `down`) through /usr/bin/python3.
//
//   auto realm = gssgate::test::TestRealm::start({"alice", "bob"}, {"HTTP/localhost"});
//   ASSERT_TRUE(realm) << gssgate::test::TestRealm::lastError();
//   realm->exportEnv();                           // KRB5_CONFIG, KRB5RCACHEDIR into this process
//   std::string cc = realm->kinit("alice");       // FILE ccache path, password alice-password
//   std::string kt = realm->keytab("HTTP/localhost");
//   ...                                            // the destructor runs `down` and deletes dir()
//
// Services are given as "SPN" (keytab = dir()/<spn with '/' and '@' as '_'>.keytab) or as
// "SPN=/path/to/keytab". Passwords are "<user>-password".
//
// Thread-safety: start() and the destructor fork/exec; call them from one thread (e.g. in
// SetUpTestSuite/TearDownTestSuite). exportEnv() calls setenv(): do it before starting threads.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gssgate::test {

class TestRealm {
 public:
  // Creates a temp dir, starts the KDC and creates the principals. Returns nullptr on failure;
  // lastError() then holds the CLI's output (including the failing krb5 tool's stderr).
  static std::unique_ptr<TestRealm> start(const std::vector<std::string>& users,
                                          const std::vector<std::string>& services);
  static const std::string& lastError();

  TestRealm(const TestRealm&) = delete;
  TestRealm& operator=(const TestRealm&) = delete;
  ~TestRealm();  // stops the KDC (`down`) and removes dir() unless GSSGATE_KEEP_REALM is set

  // KRB5_CONFIG, KRB5_KDC_PROFILE, KRB5CCNAME (the realm's default ccache), KRB5RCACHEDIR.
  const std::map<std::string, std::string>& env() const { return env_; }
  // The same, as "KEY=VALUE" strings with KRB5CCNAME replaced by `ccache` when given: for
  // execve() of clients (curl, kinit, the proxy).
  std::vector<std::string> envStrings(const std::string& ccache = "") const;
  // setenv() of KRB5_CONFIG, KRB5_KDC_PROFILE and KRB5RCACHEDIR in this process (the GSS
  // library needs them to find the KDC). KRB5CCNAME is pointed at a nonexistent file so that
  // a test that forgets to pass its ccache explicitly fails instead of using someone else's.
  void exportEnv() const;

  // kinit `user` (password "<user>-password" unless given) into `ccache` (default
  // dir()/<user>.ccache). Returns the ccache path, or "" on failure (see lastError()).
  std::string kinit(const std::string& user, const std::string& ccache = "",
                    const std::string& password = "");

  const std::string& dir() const { return dir_; }
  std::string realm() const { return "GSSGATE.TEST"; }
  std::string keytab(const std::string& spn) const;
  static std::string password(const std::string& user) { return user + "-password"; }

 private:
  TestRealm() = default;
  std::string dir_;
  std::map<std::string, std::string> env_;
  std::map<std::string, std::string> keytabs_;
  bool up_ = false;
};

// Runs argv (argv[0] a path) with `env` added to this process's environment, `input` on stdin,
// stdout+stderr into `output`. Returns the exit status (or -1 when it could not run / was
// killed after `timeout_seconds`).
int runCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
               std::string* output, const std::string& input = "", int timeout_seconds = 60);

}  // namespace gssgate::test

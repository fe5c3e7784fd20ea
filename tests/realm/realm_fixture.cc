#include "tests/realm/realm_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

extern char** environ;

#ifndef GSSGATE_REALM_SCRIPT
#error "GSSGATE_REALM_SCRIPT must be defined (path to gssgate_realm.py)"
#endif
#ifndef GSSGATE_PYTHON
#define GSSGATE_PYTHON "/usr/bin/python3"
#endif

namespace gssgate::test {
namespace {

std::string& lastErrorRef() {
  static std::string error;
  return error;
}

std::string keytabFileName(const std::string& spn) {
  std::string name;
  for (char c : spn) name += (c == '/' || c == '@' || c == ':') ? '_' : c;
  return name + ".keytab";
}

}  // namespace

int runCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
               std::string* output, const std::string& input, int timeout_seconds) {
  if (argv.empty()) return -1;
  // stdin: /dev/null, or a deleted temp file holding `input`.
  int inFd = -1;
  if (!input.empty()) {
    char inPath[] = "/tmp/gssgate-realm-in-XXXXXX";
    inFd = mkstemp(inPath);
    if (inFd < 0) {
      if (output) *output = std::string("mkstemp: ") + std::strerror(errno);
      return -1;
    }
    unlink(inPath);
    if (write(inFd, input.data(), input.size()) != static_cast<ssize_t>(input.size())) {
      close(inFd);
      if (output) *output = "could not write stdin file";
      return -1;
    }
    lseek(inFd, 0, SEEK_SET);
  }
  // Output goes to a temp file, not a pipe: `up` leaves a daemon behind, which must not hold
  // our read end open.
  char outPath[] = "/tmp/gssgate-realm-cmd-XXXXXX";
  int outFd = mkstemp(outPath);
  if (outFd < 0) {
    if (inFd >= 0) close(inFd);
    if (output) *output = std::string("mkstemp: ") + std::strerror(errno);
    return -1;
  }
  unlink(outPath);

  // Build argv/envp before fork (no allocation in the child).
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> envStore;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos && env.count(kv.substr(0, eq))) continue;
    envStore.push_back(std::move(kv));
  }
  for (const auto& [k, v] : env) envStore.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& kv : envStore) envp.push_back(kv.data());
  envp.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) {
    close(outFd);
    if (inFd >= 0) close(inFd);
    if (output) *output = std::string("fork: ") + std::strerror(errno);
    return -1;
  }
  if (pid == 0) {
    int in = inFd >= 0 ? inFd : open("/dev/null", O_RDONLY);
    if (in >= 0) dup2(in, 0);
    dup2(outFd, 1);
    dup2(outFd, 2);
    execve(args[0], args.data(), envp.data());
    const char msg[] = "execve failed\n";
    ssize_t ignored = write(2, msg, sizeof(msg) - 1);
    (void)ignored;
    _exit(127);
  }
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  bool timedOut = false;
  while (true) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      timedOut = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (output) {
    output->clear();
    lseek(outFd, 0, SEEK_SET);
    char buf[4096];
    ssize_t n;
    while ((n = read(outFd, buf, sizeof buf)) > 0) output->append(buf, static_cast<size_t>(n));
    if (timedOut) *output += "\n(killed after " + std::to_string(timeout_seconds) + " s)";
  }
  close(outFd);
  if (inFd >= 0) close(inFd);
  if (timedOut || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

const std::string& TestRealm::lastError() { return lastErrorRef(); }

std::unique_ptr<TestRealm> TestRealm::start(const std::vector<std::string>& users,
                                            const std::vector<std::string>& services) {
  lastErrorRef().clear();
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/gssgate-realm-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    lastErrorRef() = "mkdtemp(" + templ + "): " + std::strerror(errno);
    return nullptr;
  }
  std::unique_ptr<TestRealm> realm(new TestRealm());
  realm->dir_ = buf.data();

  std::vector<std::string> argv = {GSSGATE_PYTHON, GSSGATE_REALM_SCRIPT, "up", realm->dir_};
  std::string userList;
  for (const auto& u : users) userList += (userList.empty() ? "" : ",") + u;
  if (!userList.empty()) {
    argv.push_back("--users");
    argv.push_back(userList);
  }
  for (const auto& s : services) {
    std::string spn = s, keytab;
    auto eq = s.find('=');
    if (eq != std::string::npos) {
      spn = s.substr(0, eq);
      keytab = s.substr(eq + 1);
    } else {
      keytab = realm->dir_ + "/" + keytabFileName(spn);
    }
    realm->keytabs_[spn] = keytab;
    argv.push_back("--service");
    argv.push_back(spn + "=" + keytab);
  }
  std::string out;
  int rc = runCommand(argv, {}, &out);
  realm->up_ = true;  // even on failure: the destructor runs `down` (harmless) and cleans up
  if (rc != 0) {
    lastErrorRef() = "gssgate_realm.py up failed (exit " + std::to_string(rc) + "):\n" + out;
    return nullptr;
  }
  std::ifstream envList(realm->dir_ + "/env.list");
  std::string line;
  while (std::getline(envList, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) realm->env_[line.substr(0, eq)] = line.substr(eq + 1);
  }
  if (!realm->env_.count("KRB5_CONFIG")) {
    lastErrorRef() = "gssgate_realm.py up wrote no usable " + realm->dir_ + "/env.list:\n" + out;
    return nullptr;
  }
  return realm;
}

TestRealm::~TestRealm() {
  if (up_) {
    std::string out;
    int rc = runCommand({GSSGATE_PYTHON, GSSGATE_REALM_SCRIPT, "down", dir_}, {}, &out);
    if (rc != 0) std::fprintf(stderr, "TestRealm: down failed: %s\n", out.c_str());
  }
  if (!dir_.empty() && std::getenv("GSSGATE_KEEP_REALM") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::vector<std::string> TestRealm::envStrings(const std::string& ccache) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : env_) {
    if (k == "KRB5CCNAME" && !ccache.empty()) {
      out.push_back(k + "=" + (ccache.find(':') == std::string::npos ? "FILE:" + ccache : ccache));
    } else {
      out.push_back(k + "=" + v);
    }
  }
  return out;
}

void TestRealm::exportEnv() const {
  for (const char* key : {"KRB5_CONFIG", "KRB5_KDC_PROFILE", "KRB5RCACHEDIR"}) {
    auto it = env_.find(key);
    if (it != env_.end()) setenv(key, it->second.c_str(), 1);
  }
  setenv("KRB5CCNAME", ("FILE:" + dir_ + "/no-such-ccache").c_str(), 1);
}

std::string TestRealm::kinit(const std::string& user, const std::string& ccache,
                             const std::string& password) {
  std::string path = ccache.empty() ? dir_ + "/" + user + ".ccache" : ccache;
  std::vector<std::string> argv = {GSSGATE_PYTHON, GSSGATE_REALM_SCRIPT, "kinit", dir_, user, path};
  if (!password.empty()) {
    argv.push_back("--password");
    argv.push_back(password);
  }
  std::string out;
  int rc = runCommand(argv, {}, &out);
  if (rc != 0) {
    lastErrorRef() = "kinit " + user + " failed (exit " + std::to_string(rc) + "):\n" + out;
    return "";
  }
  return path;
}

std::string TestRealm::keytab(const std::string& spn) const {
  auto it = keytabs_.find(spn);
  return it == keytabs_.end() ? dir_ + "/" + keytabFileName(spn) : it->second;
}

}  // namespace gssgate::test

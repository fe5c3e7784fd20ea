// Which auth_to_local names may reach the upstream as X-Remote-User. A backend that trusts the
// header must never be told "root": by default the proxy refuses (403) `root`, a name that is
// only zeros (uid 0 written as a number) and every name /etc/passwd gives uid 0, compared
// case-insensitively; `local_names.allow_privileged` lists exceptions, `local_names.refuse`
// adds names (e.g. a database superuser).
//
//   LocalNamePolicy p = LocalNamePolicy::build(passwdText, /*refuse=*/{"postgres"}, /*allow=*/{});
//   if (const char* why = p.refusal("root")) → 403 (why: "privileged_local_name")
//
// Thread-safety: immutable after build().
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace gssgate::proxy {

class LocalNamePolicy {
 public:
  // `passwd` is the text of an /etc/passwd-format file (name:pw:uid:...); names with uid 0 are
  // privileged. Malformed lines are skipped.
  static LocalNamePolicy build(std::string_view passwd, const std::vector<std::string>& refuse,
                               const std::vector<std::string>& allow_privileged);

  // nullptr when `local_name` may be forwarded, else "privileged_local_name" or
  // "refused_local_name".
  const char* refusal(std::string_view local_name) const;

  // The names refused for being privileged (lower case; for logs and tests).
  const std::set<std::string, std::less<>>& privileged() const { return privileged_; }

 private:
  std::set<std::string, std::less<>> privileged_;  // lower case
  std::set<std::string, std::less<>> refused_;     // lower case
  std::set<std::string, std::less<>> allowed_;     // lower case, exceptions to privileged_
};

// Names of uid 0 in an /etc/passwd-format text.
std::vector<std::string> uidZeroNames(std::string_view passwd);

}  // namespace gssgate::proxy

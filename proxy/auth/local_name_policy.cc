#include "proxy/auth/local_name_policy.h"

#include "common/strings.h"

namespace gssgate::proxy {
namespace {

// "0", "00", ...: uid 0 written as a number, which some backends resolve as a uid.
bool allZeros(std::string_view s) {
  return !s.empty() && s.find_first_not_of('0') == std::string_view::npos;
}

}  // namespace

std::vector<std::string> uidZeroNames(std::string_view passwd) {
  std::vector<std::string> out;
  while (!passwd.empty()) {
    const size_t nl = passwd.find('\n');
    std::string_view line = passwd.substr(0, nl);
    passwd = nl == std::string_view::npos ? std::string_view() : passwd.substr(nl + 1);
    const size_t c1 = line.find(':');
    if (c1 == 0 || c1 == std::string_view::npos) continue;
    const size_t c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    const size_t c3 = line.find(':', c2 + 1);
    std::string_view uid = line.substr(c2 + 1, c3 == std::string_view::npos ? c3 : c3 - c2 - 1);
    if (allZeros(uid)) out.emplace_back(line.substr(0, c1));
  }
  return out;
}

LocalNamePolicy LocalNamePolicy::build(std::string_view passwd,
                                       const std::vector<std::string>& refuse,
                                       const std::vector<std::string>& allow_privileged) {
  LocalNamePolicy p;
  p.privileged_.insert("root");
  for (const auto& name : uidZeroNames(passwd)) p.privileged_.insert(toLowerAscii(name));
  for (const auto& name : refuse) p.refused_.insert(toLowerAscii(name));
  for (const auto& name : allow_privileged) p.allowed_.insert(toLowerAscii(name));
  return p;
}

const char* LocalNamePolicy::refusal(std::string_view local_name) const {
  const std::string name = toLowerAscii(local_name);
  if (refused_.contains(name)) return "refused_local_name";
  if ((privileged_.contains(name) || allZeros(name)) && !allowed_.contains(name)) {
    return "privileged_local_name";
  }
  return nullptr;
}

}  // namespace gssgate::proxy

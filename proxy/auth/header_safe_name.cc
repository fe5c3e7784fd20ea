#include "proxy/auth/header_safe_name.h"

namespace gssgate::proxy {

bool isHeaderSafeName(std::string_view name) {
  if (name.empty() || name.front() == ' ' || name.back() == ' ') return false;
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

}  // namespace gssgate::proxy

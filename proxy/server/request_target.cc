#include "proxy/server/request_target.h"

namespace gssgate::proxy {
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool control(unsigned char c) { return c < 0x20 || c == 0x7f; }

}  // namespace

std::string_view pathOf(std::string_view target) { return target.substr(0, target.find('?')); }

std::string routePathOf(std::string_view target) {
  std::string_view path = pathOf(target);
  std::string out;
  out.reserve(path.size());
  bool inParams = false;
  for (char c : path) {
    if (c == '/') inParams = false;
    if (c == ';') inParams = true;
    if (!inParams) out += c;
  }
  return out;
}

std::optional<std::string> normalizeTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') return std::nullopt;
  const size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q);
  for (unsigned char c : query) {
    if (control(c) || c == '#') return std::nullopt;
  }

  std::string out;
  out.reserve(target.size());
  for (size_t i = 0; i < path.size(); ++i) {
    auto c = static_cast<unsigned char>(path[i]);
    if (control(c) || c == '\\' || c == '#' || c == ' ') return std::nullopt;
    if (c == '%') {
      if (i + 2 >= path.size()) return std::nullopt;
      int hi = hexValue(path[i + 1]), lo = hexValue(path[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      auto decoded = static_cast<unsigned char>(hi * 16 + lo);
      if (decoded == '/' || decoded == '\\' || control(decoded)) return std::nullopt;
      if (unreserved(decoded)) {
        out += static_cast<char>(decoded);
      } else {
        out += '%';
        out += path[i + 1];
        out += path[i + 2];
      }
      i += 2;
      continue;
    }
    if (c == '/' && !out.empty() && out.back() == '/') continue;  // collapse "//"
    out += static_cast<char>(c);
  }
  // Refuse dot segments: "/." and "/.." as whole segments.
  for (size_t pos = 0; pos < out.size(); pos = out.find('/', pos + 1)) {
    if (pos == std::string::npos) break;
    size_t end = out.find('/', pos + 1);
    std::string_view seg = std::string_view(out).substr(
        pos + 1, (end == std::string::npos ? out.size() : end) - pos - 1);
    // Servlet containers drop ";params" from a segment, so "..;x" means ".." to them.
    seg = seg.substr(0, seg.find(';'));
    if (seg == "." || seg == "..") return std::nullopt;
  }
  out += query;
  return out;
}

}  // namespace gssgate::proxy

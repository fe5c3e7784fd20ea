#include "common/host_port.h"

#include <arpa/inet.h>

#include <charconv>

#include "common/config_reader.h"
#include "common/strings.h"

namespace gssgate {

std::string HostPort::text() const {
  if (host.find(':') != std::string::npos) return strCat("[", host, "]:", port);
  return strCat(host, ":", port);
}

std::optional<HostPort> parseHostPort(std::string_view text) {
  HostPort hp;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    hp.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return std::nullopt;
    hp.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (hp.host.empty() || port.empty() || ec != std::errc() || ptr != port.data() + port.size() ||
      value > 65535) {
    return std::nullopt;
  }
  hp.port = static_cast<uint16_t>(value);
  return hp;
}

bool isIpLiteral(const std::string& host) {
  unsigned char buf[16];
  if (::inet_pton(AF_INET, host.c_str(), buf) == 1) return true;
  const std::string addr = host.substr(0, host.find('%'));
  return ::inet_pton(AF_INET6, addr.c_str(), buf) == 1;
}

void readListenAddress(ConfigReader& r, std::string_view key, HostPort& out, bool required) {
  std::optional<std::string> text =
      required ? std::optional(r.requiredString(key)) : r.optionalString(key);
  if (!text || text->empty()) return;
  auto hp = parseHostPort(*text);
  if (!hp) {
    r.error(key,
            strCat("expected host:port such as 127.0.0.1:8080 or [::1]:8080, got '", *text, "'"));
    return;
  }
  if (!isIpLiteral(hp->host)) {
    r.error(key, strCat("the host must be an IP address, got '", *text, "'"));
    return;
  }
  out = *hp;
}

}  // namespace gssgate

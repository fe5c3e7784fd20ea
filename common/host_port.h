// A TCP listen or connect address written `host:port` or `[v6]:port`, as in the configs.
//
//   auto hp = parseHostPort("[::1]:8080");      // nullopt when malformed
//   readListenAddress(reader, "admin_listen", cfg.admin, /*required=*/false);
//
// Thread-safety: pure functions and values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gssgate {

class ConfigReader;

struct HostPort {
  std::string host;  // literal IP or a name resolved at startup
  uint16_t port = 0;
  // "host:port", with brackets around an IPv6 host.
  std::string text() const;
};

// Parses "host:port" or "[v6]:port" (port 0–65535).
std::optional<HostPort> parseHostPort(std::string_view text);

// A literal IPv4 or IPv6 address (an IPv6 zone such as "fe80::1%eth0" is allowed).
bool isIpLiteral(const std::string& host);

// Reads `key` as a listen address whose host is an IP literal into `out`; a bad value is
// reported on `r` with an example of the expected form. An absent optional key leaves `out`.
void readListenAddress(ConfigReader& r, std::string_view key, HostPort& out, bool required);

}  // namespace gssgate

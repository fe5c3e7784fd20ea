// The proxy's configuration: loaded once from YAML, validated, then immutable and shared as
// std::shared_ptr<const ProxyConfig>. A reload builds a new one and swaps the pointer.
//
//   auto cfg = loadProxyConfig("proxy.yaml");     // StatusOr; every error, one per line
//   if (!cfg.ok()) { std::cerr << cfg.status().message(); return 1; }
//
// Thread-safety: immutable after loading.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/host_port.h"
#include "common/logging.h"
#include "proxy/auth/local_name_policy.h"

namespace gssgate::proxy {

using gssgate::HostPort;

struct UpstreamTarget {
  enum class Kind { kTcp, kUnix };
  Kind kind = Kind::kTcp;
  HostPort tcp;           // kind == kTcp
  bool https = false;     // kind == kTcp: TLS to the upstream, certificate verified
  std::string unix_path;  // kind == kUnix
  std::string original;   // as written in the config
};

// `tls` on the listener.
struct TlsOptions {
  std::string cert_file;    // PEM certificate chain, leaf first
  std::string key_file;     // PEM private key
  bool tls13_only = false;  // min_version "1.3"; default TLS 1.2
};

// `basic`: HTTP Basic checked with the KDC and verified with the keytab (TLS listeners only).
struct BasicOptions {
  bool enabled = false;
  std::string realm = "gssgate";  // the realm="..." shown in the browser's password dialog
};

// `upstream_tls`, for https:// upstreams.
struct UpstreamTlsOptions {
  std::string ca_file;      // PEM CA bundle; empty: the system's trust store
  std::string server_name;  // name to verify (and SNI); empty: the upstream URL's host
};

struct Route {
  enum class Auth { kNone, kNegotiate };
  std::string path;  // prefix, matched on segment boundaries
  Auth auth = Auth::kNegotiate;
  std::vector<std::string> allow;   // principal globs; empty = any authenticated principal
  std::vector<std::string> deny;    // principal globs; a match is refused even if allowed
  std::vector<std::string> realms;  // accepted realms (exact); empty = any
  std::string fallback;             // URL a browser without Kerberos is sent on to; empty = none
};

struct SessionOptions {
  std::string key_file;                 // empty: a random key per process (see docs)
  std::chrono::seconds lifetime{3600};  // 0: no session cookie
  std::string cookie_name = "gssgate_session";
  std::string logout_path = "/.gssgate/logout";
  bool secure_always = false;  // `secure: always`: Secure even on a plain listener (TLS in front)
};

struct AssertionOptions {
  std::string key_file;  // PEM Ed25519 or P-256 private key; empty: generated per process
  std::string issuer = "gssgate";
  std::string audience = "gssgate";
  std::chrono::seconds lifetime{60};
};

struct HeaderNames {
  std::string remote_user = "X-Remote-User";
  std::string remote_principal = "X-Remote-Principal";
  std::string credential = "X-Gssgate-Credential";
  std::string assertion = "X-Gssgate-Assertion";
};

struct Limits {
  uint64_t header_bytes = 64 * 1024;
  uint64_t body_bytes = 1ull << 30;
  uint64_t max_connections = 10000;
};

struct Timeouts {
  std::chrono::milliseconds header{10'000};
  std::chrono::milliseconds idle{60'000};
  std::chrono::milliseconds body{60'000};
  std::chrono::milliseconds upstream_connect{5'000};
  std::chrono::milliseconds upstream_response{60'000};
  std::chrono::milliseconds upstream_idle{30'000};  // pooled connection kept at most this long
  std::chrono::milliseconds drain{30'000};
  std::chrono::milliseconds broker{2'000};  // deadline of one deposit RPC
};

struct ProxyConfig {
  std::string file;
  HostPort listen;
  std::optional<HostPort> admin_listen;
  UpstreamTarget upstream;
  std::string keytab;
  std::string acceptor;           // empty = any principal in the keytab
  std::string replay_cache;       // empty = MIT default
  std::string broker;             // "unix:/path" of the broker's deposit socket; empty = none
  std::optional<TlsOptions> tls;  // set: the listener speaks TLS only
  UpstreamTlsOptions upstream_tls;
  BasicOptions basic;
  unsigned threads = 0;       // resolved: never 0 after loading
  std::vector<Route> routes;  // sorted: longest prefix first
  HeaderNames headers;
  SessionOptions session;
  AssertionOptions assertion;
  std::string unauthorized_page;  // HTML file sent with a 401 to browsers; empty: built-in
  LocalNamePolicy local_names;    // `local_names`: refused auth_to_local names (root by default)
  Limits limits;
  Timeouts timeouts;
  size_t upstream_max_idle = 64;  // per worker thread
  LogOptions log;
};

// Loads and validates `file`. Checks syntax and values only; the keytab itself is checked by
// the authenticator when it is built (see NegotiateAuthenticator::create).
absl::StatusOr<std::shared_ptr<const ProxyConfig>> loadProxyConfig(const std::string& file);
using gssgate::parseHostPort;

}  // namespace gssgate::proxy

#include "proxy/config.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/config_reader.h"
#include "common/strings.h"

namespace gssgate::proxy {

namespace {

void readUpstream(ConfigReader& r, UpstreamTarget& out) {
  std::string text = r.requiredString("upstream");
  if (text.empty()) return;
  out.original = text;
  if (text.starts_with("unix:")) {
    out.kind = UpstreamTarget::Kind::kUnix;
    out.unix_path = text.substr(5);
    if (out.unix_path.empty() || out.unix_path.front() != '/') {
      r.error("upstream", "expected unix:/absolute/path/to.sock");
    }
    return;
  }
  const bool https = text.starts_with("https://");
  if (!https && !text.starts_with("http://")) {
    r.error("upstream",
            strCat("expected http://host:port, https://host:port or unix:/path, got '", text, "'"));
    return;
  }
  out.https = https;
  std::string_view rest = std::string_view(text).substr(https ? 8 : 7);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) {
    r.error("upstream", "a path in the upstream URL is not supported; give http(s)://host:port");
    return;
  }
  auto hp = parseHostPort(rest);
  if (!hp) {
    r.error("upstream", strCat("expected http://host:port, got '", text, "'"));
    return;
  }
  out.kind = UpstreamTarget::Kind::kTcp;
  out.tcp = *hp;
}

bool validCookieName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// The fallback URL goes into an HTML page and a Location header: keep it to plain URL bytes.
bool validFallback(std::string_view url) {
  if (!(url.starts_with("https://") || url.starts_with("http://") ||
        (url.starts_with("/") && !url.starts_with("//")))) {
    return false;
  }
  for (char c : url) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '"' || c == '\'' || c == '<' || c == '>' || c == '\\' ||
        c == '`') {
      return false;
    }
  }
  return true;
}

bool validHeaderName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const ProxyConfig>> loadProxyConfig(const std::string& file) {
  auto reader = ConfigReader::load(file);
  if (!reader.ok()) return reader.status();
  ConfigReader& r = *reader;
  auto cfg = std::make_shared<ProxyConfig>();
  cfg->file = file;

  readListenAddress(r, "listen", cfg->listen, true);
  if (r.has("admin_listen")) {
    HostPort admin;
    readListenAddress(r, "admin_listen", admin, false);
    if (admin.port != 0 || !admin.host.empty()) cfg->admin_listen = admin;
  } else {
    (void)r.optionalString("admin_listen");
  }
  readUpstream(r, cfg->upstream);
  cfg->keytab = r.requiredString("keytab");
  cfg->acceptor = r.string("acceptor", "");
  cfg->replay_cache = r.string("replay_cache", "");
  int64_t threads = r.integer("threads", 0, 0, 256);
  cfg->threads = threads > 0 ? static_cast<unsigned>(threads)
                             : std::max(1u, std::thread::hardware_concurrency());

  if (auto broker = r.optionalString("broker"); broker && !broker->empty()) {
    if (!broker->starts_with("unix:/")) {
      r.error("broker", strCat("expected unix:/path/to/deposit.sock, got '", *broker, "'"));
    }
    cfg->broker = *broker;
  }
  {
    auto se = r.section("session");
    auto& so = cfg->session;
    so.key_file = se.string("key_file", "");
    auto life = se.duration("lifetime", so.lifetime);
    if (life.count() < 0 || life > std::chrono::hours(24 * 30)) {
      se.error("lifetime", "expected 0 (no session cookie) up to 30d");
    } else if (life.count() % 1000 != 0) {
      se.error("lifetime", "expected whole seconds (0 turns the session cookie off)");
    }
    so.lifetime = std::chrono::duration_cast<std::chrono::seconds>(life);
    so.cookie_name = se.string("cookie_name", so.cookie_name);
    if (!validCookieName(so.cookie_name)) {
      se.error("cookie_name",
               strCat("expected letters, digits, '_' or '-', got '", so.cookie_name, "'"));
    }
    so.logout_path = se.string("logout_path", so.logout_path);
    so.secure_always = se.choice("secure", "auto", {"auto", "always"}) == "always";
    if (!so.logout_path.empty() && so.logout_path.front() != '/') {
      se.error("logout_path", strCat("must start with '/', got '", so.logout_path, "'"));
    }
  }
  {
    auto as = r.section("assertion");
    auto& ao = cfg->assertion;
    ao.key_file = as.string("key_file", "");
    ao.issuer = as.string("issuer", ao.issuer);
    ao.audience = as.string("audience", ao.audience);
    auto life = as.duration("lifetime", ao.lifetime);
    if (life < std::chrono::seconds(1) || life > std::chrono::seconds(60)) {
      as.error("lifetime", "expected 1s up to 60s (an assertion is meant to be short-lived)");
    } else if (life.count() % 1000 != 0) {
      as.error("lifetime", "expected whole seconds");
    }
    ao.lifetime = std::chrono::duration_cast<std::chrono::seconds>(life);
    if (ao.audience.empty()) as.error("audience", "must not be empty");
  }
  cfg->unauthorized_page = r.string("unauthorized_page", "");
  {
    // uid-0 aliases (toor, ...) come from the passwd file as it is at load and reload.
    auto ln = r.section("local_names");
    std::ostringstream passwd;
    if (std::ifstream in("/etc/passwd"); in) passwd << in.rdbuf();
    cfg->local_names = LocalNamePolicy::build(passwd.str(), ln.stringList("refuse"),
                                              ln.stringList("allow_privileged"));
  }
  if (r.has("tls")) {
    auto t = r.section("tls");
    TlsOptions tls;
    tls.cert_file = t.requiredString("cert_file");
    tls.key_file = t.requiredString("key_file");
    tls.tls13_only = t.choice("min_version", "1.2", {"1.2", "1.3"}) == "1.3";
    cfg->tls = std::move(tls);
  }
  {
    auto b = r.section("basic");
    cfg->basic.enabled = b.boolean("enabled", false);
    cfg->basic.realm = b.string("realm", cfg->basic.realm);
    if (cfg->basic.enabled && !cfg->tls) {
      b.error("enabled", "Basic sends passwords: it is available only with a tls listener");
    }
    for (char c : cfg->basic.realm) {
      if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
        b.error("realm", "must not contain quotes, backslashes or control characters");
        break;
      }
    }
  }
  {
    auto ut = r.section("upstream_tls");
    cfg->upstream_tls.ca_file = ut.string("ca_file", "");
    cfg->upstream_tls.server_name = ut.string("server_name", "");
    if (!cfg->upstream.https && r.has("upstream_tls")) {
      r.error("upstream_tls", "applies only to an https:// upstream");
    }
  }

  auto routes = r.sectionList("routes");
  for (auto& rr : routes) {
    Route route;
    route.path = rr.requiredString("path");
    if (!route.path.empty() && route.path.front() != '/') {
      rr.error("path", strCat("must start with '/', got '", route.path, "'"));
    }
    if (route.path.size() > 1 && route.path.back() == '/') route.path.pop_back();
    std::string auth = rr.choice("auth", "negotiate", {"negotiate", "none"});
    route.auth = auth == "none" ? Route::Auth::kNone : Route::Auth::kNegotiate;
    route.allow = rr.stringList("allow");
    route.deny = rr.stringList("deny");
    route.realms = rr.stringList("realms");
    route.fallback = rr.string("fallback", "");
    for (auto [key, list] : {std::pair{"allow", &route.allow}, std::pair{"deny", &route.deny},
                             std::pair{"realms", &route.realms}}) {
      if (route.auth == Route::Auth::kNone && !list->empty()) {
        rr.error(key,
                 "has no effect on a route with auth: none; remove it or use "
                 "auth: negotiate");
      }
      for (const auto& item : *list) {
        if (item.empty()) rr.error(key, "empty entry");
      }
    }
    if (!route.fallback.empty() && !validFallback(route.fallback)) {
      rr.error("fallback", strCat("expected an http(s):// URL or an absolute path without quotes, "
                                  "'<', '>' or spaces, got '",
                                  route.fallback, "'"));
    }
    if (std::any_of(cfg->routes.begin(), cfg->routes.end(),
                    [&](const Route& x) { return x.path == route.path; })) {
      rr.error("path", strCat("route '", route.path, "' is listed twice"));
    }
    cfg->routes.push_back(std::move(route));
  }
  if (r.has("routes") && routes.empty()) r.error("routes", "must list at least one route");
  if (cfg->routes.empty()) cfg->routes.push_back(Route{"/", Route::Auth::kNegotiate});
  std::stable_sort(cfg->routes.begin(), cfg->routes.end(),
                   [](const Route& a, const Route& b) { return a.path.size() > b.path.size(); });

  auto h = r.section("headers");
  cfg->headers.remote_user = h.string("remote_user", cfg->headers.remote_user);
  cfg->headers.remote_principal = h.string("remote_principal", cfg->headers.remote_principal);
  cfg->headers.credential = h.string("credential", cfg->headers.credential);
  cfg->headers.assertion = h.string("assertion", cfg->headers.assertion);
  for (auto [key, value] : {std::pair{"remote_user", &cfg->headers.remote_user},
                            std::pair{"remote_principal", &cfg->headers.remote_principal},
                            std::pair{"credential", &cfg->headers.credential},
                            std::pair{"assertion", &cfg->headers.assertion}}) {
    if (!validHeaderName(*value)) {
      h.error(key, strCat("expected a header name (letters, digits, '-'), got '", *value, "'"));
    }
  }

  auto l = r.section("limits");
  cfg->limits.header_bytes =
      l.byteSize("header_bytes", cfg->limits.header_bytes, 1024, 16ull << 20);
  cfg->limits.body_bytes = l.byteSize("body_bytes", cfg->limits.body_bytes, 0, 1ull << 50);
  cfg->limits.max_connections = static_cast<uint64_t>(l.integer(
      "max_connections", static_cast<int64_t>(cfg->limits.max_connections), 1, 10'000'000));

  auto t = r.section("timeouts");
  auto& to = cfg->timeouts;
  to.header = t.duration("header", to.header);
  to.idle = t.duration("idle", to.idle);
  to.body = t.duration("body", to.body);
  to.upstream_connect = t.duration("upstream_connect", to.upstream_connect);
  to.upstream_response = t.duration("upstream_response", to.upstream_response);
  to.upstream_idle = t.duration("upstream_idle", to.upstream_idle);
  to.drain = t.duration("drain", to.drain);
  to.broker = t.duration("broker", to.broker);
  for (auto [key, value] :
       {std::pair{"header", to.header}, std::pair{"idle", to.idle}, std::pair{"body", to.body},
        std::pair{"upstream_connect", to.upstream_connect},
        std::pair{"upstream_response", to.upstream_response}, std::pair{"broker", to.broker}}) {
    if (value.count() <= 0) t.error(key, "must be greater than 0");
  }

  auto up = r.section("upstream_pool");
  cfg->upstream_max_idle = static_cast<size_t>(
      up.integer("max_idle", static_cast<int64_t>(cfg->upstream_max_idle), 0, 100'000));

  {
    ConfigReader log = r.section("log");
    cfg->log = readLogOptions(log);
    cfg->log.access = log.boolean("access", true);
  }

  if (auto st = r.finish(); !st.ok()) return st;
  return std::shared_ptr<const ProxyConfig>(std::move(cfg));
}

}  // namespace gssgate::proxy

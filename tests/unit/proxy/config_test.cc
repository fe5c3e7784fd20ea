#include "proxy/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>  // mkdtemp
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/strings.h"

namespace gssgate::proxy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr const char* kMinimal =
    "listen: 127.0.0.1:8080\n"
    "upstream: http://127.0.0.1:9000\n"
    "keytab: /etc/gssgate/http.keytab\n";

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gssgate-config-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Writes `text` to dir/proxy.yaml and returns the path.
  std::string write(const std::string& text, const std::string& name = "proxy.yaml") {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return path;
  }

  std::shared_ptr<const ProxyConfig> load(const std::string& text) {
    auto cfg = loadProxyConfig(write(text));
    EXPECT_TRUE(cfg.ok()) << messageOf(cfg.status());
    return cfg.ok() ? *cfg : nullptr;
  }

  // The error text of a config that must fail to load.
  std::string error(const std::string& text) {
    auto cfg = loadProxyConfig(write(text));
    EXPECT_FALSE(cfg.ok()) << "config unexpectedly loaded:\n" << text;
    return cfg.ok() ? std::string() : messageOf(cfg.status());
  }

  std::string file() const { return (dir_ / "proxy.yaml").string(); }

  std::filesystem::path dir_;
};

unsigned cores() { return std::max(1u, std::thread::hardware_concurrency()); }

TEST_F(ConfigTest, MinimalThreeKeyConfigGetsEveryDefault) {
  auto cfg = load(kMinimal);
  ASSERT_NE(cfg, nullptr);
  EXPECT_EQ(cfg->file, file());
  EXPECT_EQ(cfg->listen.host, "127.0.0.1");
  EXPECT_EQ(cfg->listen.port, 8080);
  EXPECT_FALSE(cfg->admin_listen.has_value());
  EXPECT_EQ(cfg->upstream.kind, UpstreamTarget::Kind::kTcp);
  EXPECT_EQ(cfg->upstream.tcp.host, "127.0.0.1");
  EXPECT_EQ(cfg->upstream.tcp.port, 9000);
  EXPECT_EQ(cfg->upstream.original, "http://127.0.0.1:9000");
  EXPECT_EQ(cfg->keytab, "/etc/gssgate/http.keytab");
  EXPECT_EQ(cfg->acceptor, "");
  EXPECT_EQ(cfg->replay_cache, "");
  EXPECT_EQ(cfg->threads, cores());

  // Default route: everything needs Negotiate, any principal.
  ASSERT_EQ(cfg->routes.size(), 1u);
  EXPECT_EQ(cfg->routes[0].path, "/");
  EXPECT_EQ(cfg->routes[0].auth, Route::Auth::kNegotiate);
  EXPECT_TRUE(cfg->routes[0].allow.empty());

  EXPECT_EQ(cfg->headers.remote_user, "X-Remote-User");
  EXPECT_EQ(cfg->headers.remote_principal, "X-Remote-Principal");
  EXPECT_EQ(cfg->headers.credential, "X-Gssgate-Credential");
  EXPECT_EQ(cfg->headers.assertion, "X-Gssgate-Assertion");

  EXPECT_EQ(cfg->limits.header_bytes, 64u * 1024);
  EXPECT_EQ(cfg->limits.body_bytes, 1ull << 30);
  EXPECT_EQ(cfg->limits.max_connections, 10000u);

  EXPECT_EQ(cfg->timeouts.header, 10s);
  EXPECT_EQ(cfg->timeouts.idle, 60s);
  EXPECT_EQ(cfg->timeouts.body, 60s);
  EXPECT_EQ(cfg->timeouts.upstream_connect, 5s);
  EXPECT_EQ(cfg->timeouts.upstream_response, 60s);
  EXPECT_EQ(cfg->timeouts.upstream_idle, 30s);
  EXPECT_EQ(cfg->timeouts.drain, 30s);
  EXPECT_EQ(cfg->upstream_max_idle, 64u);

  EXPECT_EQ(cfg->log.level, "info");
  EXPECT_EQ(cfg->log.format, LogFormat::kText);
}

TEST_F(ConfigTest, ContractExampleLoadsWithEveryValue) {
  auto cfg = load(R"(listen: 127.0.0.1:8080
upstream: http://127.0.0.1:9000
keytab: /etc/gssgate/http.keytab
acceptor: HTTP/www.example.com@EXAMPLE.COM
admin_listen: 127.0.0.1:9901
threads: 3
replay_cache: "file2:/var/lib/gssgate/rcache"
routes:
  - path: /public
    auth: none
  - path: /
    auth: negotiate
    allow: ["*@EXAMPLE.COM", alice@OTHER.COM]
headers:
  remote_user: X-User
  remote_principal: X-Principal
  credential: X-Cred
  assertion: X-Assert
limits:
  header_bytes: 32KiB
  body_bytes: 2MiB
  max_connections: 500
timeouts:
  header: 500ms
  idle: 2m
  body: 1h
  upstream_connect: 3s
  upstream_response: 45s
  upstream_idle: 10s
  drain: 0s
upstream_pool:
  max_idle: 0
log:
  level: debug
  format: json
)");
  ASSERT_NE(cfg, nullptr);
  EXPECT_EQ(cfg->acceptor, "HTTP/www.example.com@EXAMPLE.COM");
  ASSERT_TRUE(cfg->admin_listen.has_value());
  EXPECT_EQ(cfg->admin_listen->text(), "127.0.0.1:9901");
  EXPECT_EQ(cfg->threads, 3u);
  EXPECT_EQ(cfg->replay_cache, "file2:/var/lib/gssgate/rcache");
  ASSERT_EQ(cfg->routes.size(), 2u);
  EXPECT_EQ(cfg->routes[0].path, "/public");
  EXPECT_EQ(cfg->routes[0].auth, Route::Auth::kNone);
  EXPECT_EQ(cfg->routes[1].path, "/");
  EXPECT_EQ(cfg->routes[1].auth, Route::Auth::kNegotiate);
  EXPECT_EQ(cfg->routes[1].allow, (std::vector<std::string>{"*@EXAMPLE.COM", "alice@OTHER.COM"}));
  EXPECT_EQ(cfg->headers.remote_user, "X-User");
  EXPECT_EQ(cfg->headers.remote_principal, "X-Principal");
  EXPECT_EQ(cfg->headers.credential, "X-Cred");
  EXPECT_EQ(cfg->headers.assertion, "X-Assert");
  EXPECT_EQ(cfg->limits.header_bytes, 32u * 1024);
  EXPECT_EQ(cfg->limits.body_bytes, 2u << 20);
  EXPECT_EQ(cfg->limits.max_connections, 500u);
  EXPECT_EQ(cfg->timeouts.header, 500ms);
  EXPECT_EQ(cfg->timeouts.idle, 2min);
  EXPECT_EQ(cfg->timeouts.body, 1h);
  EXPECT_EQ(cfg->timeouts.upstream_connect, 3s);
  EXPECT_EQ(cfg->timeouts.upstream_response, 45s);
  EXPECT_EQ(cfg->timeouts.upstream_idle, 10s);
  EXPECT_EQ(cfg->timeouts.drain, 0s);
  EXPECT_EQ(cfg->upstream_max_idle, 0u);
  EXPECT_EQ(cfg->log.level, "debug");
  EXPECT_EQ(cfg->log.format, LogFormat::kJson);
}

TEST_F(ConfigTest, ThreadsZeroOrAbsentMeansNumberOfCores) {
  auto absent = load(kMinimal);
  ASSERT_NE(absent, nullptr);
  EXPECT_EQ(absent->threads, cores());
  EXPECT_NE(absent->threads, 0u);
  auto zero = load(std::string(kMinimal) + "threads: 0\n");
  ASSERT_NE(zero, nullptr);
  EXPECT_EQ(zero->threads, cores());
  auto explicitly = load(std::string(kMinimal) + "threads: 7\n");
  ASSERT_NE(explicitly, nullptr);
  EXPECT_EQ(explicitly->threads, 7u);
}

// One bad value at a known line: the error is one line, "FILE:LINE: key 'KEY': MESSAGE".
struct KeyError {
  const char* yaml;  // appended to the minimal config, starting at line 4
  int line;
  const char* key;
  const char* message;  // expected after "FILE:LINE: key 'KEY': "
};

class ConfigKeyErrorTest : public ConfigTest, public ::testing::WithParamInterface<KeyError> {};

TEST_P(ConfigKeyErrorTest, NamesFileLineKeyAndWhatWasExpected) {
  const KeyError& e = GetParam();
  const std::string msg = error(std::string(kMinimal) + e.yaml);
  const std::string want = strCat(file(), ":", e.line, ": key '", e.key, "': ", e.message);
  // The first error is the one about this key (a list that fails to parse may add "must list
  // at least one route" after it).
  EXPECT_EQ(msg.substr(0, msg.find('\n')), want) << msg;
}

INSTANTIATE_TEST_SUITE_P(
    EachKey, ConfigKeyErrorTest,
    ::testing::Values(
        KeyError{"admin_listen: nowhere\n", 4, "admin_listen",
                 "expected host:port such as 127.0.0.1:8080 or [::1]:8080, got 'nowhere'"},
        KeyError{"acceptor: [a, b]\n", 4, "acceptor", "expected a single value, got a list"},
        KeyError{"replay_cache: {a: b}\n", 4, "replay_cache",
                 "expected a single value, got a mapping"},
        KeyError{"threads: many\n", 4, "threads",
                 "expected an integer between 0 and 256, got 'many'"},
        KeyError{"threads: 257\n", 4, "threads",
                 "expected an integer between 0 and 256, got '257'"},
        KeyError{"threads: -1\n", 4, "threads", "expected an integer between 0 and 256, got '-1'"},
        KeyError{"routes: everything\n", 4, "routes", "expected a list, got 'everything'"},
        KeyError{"routes: []\n", 4, "routes", "must list at least one route"},
        KeyError{"routes:\n  - /app\n", 5, "routes[0]", "expected a mapping of keys, got '/app'"},
        KeyError{"routes:\n  - path: app\n", 5, "routes[0].path", "must start with '/', got 'app'"},
        KeyError{"routes:\n  - path: /\n    auth: kerberos\n", 6, "routes[0].auth",
                 "expected one of negotiate, none; got 'kerberos'"},
        KeyError{"routes:\n  - path: /\n    allow: {a: b}\n", 6, "routes[0].allow",
                 "expected a list of strings, got a mapping"},
        KeyError{"routes:\n  - path: /\n    allow: [\"\"]\n", 6, "routes[0].allow", "empty entry"},
        KeyError{"routes:\n  - path: /\n    colour: red\n", 6, "routes[0].colour",
                 "unknown key (misspelt, or not valid here)"},
        KeyError{"headers: X-User\n", 4, "headers", "expected a mapping of keys, got 'X-User'"},
        KeyError{"headers:\n  remote_user: X Remote\n", 5, "headers.remote_user",
                 "expected a header name (letters, digits, '-'), got 'X Remote'"},
        KeyError{"headers:\n  remote_principal: X_Principal\n", 5, "headers.remote_principal",
                 "expected a header name (letters, digits, '-'), got 'X_Principal'"},
        KeyError{"headers:\n  credential: \"X:C\"\n", 5, "headers.credential",
                 "expected a header name (letters, digits, '-'), got 'X:C'"},
        KeyError{"headers:\n  assertion: [X-A]\n", 5, "headers.assertion",
                 "expected a single value, got a list"},
        KeyError{"limits:\n  header_bytes: big\n", 5, "limits.header_bytes",
                 "expected a size such as 65536, 64KiB or 1MiB between 1024 and 16777216 bytes, "
                 "got 'big'"},
        KeyError{"limits:\n  header_bytes: 512\n", 5, "limits.header_bytes",
                 "expected a size such as 65536, 64KiB or 1MiB between 1024 and 16777216 bytes, "
                 "got '512'"},
        KeyError{"limits:\n  body_bytes: -1\n", 5, "limits.body_bytes",
                 "expected a size such as 65536, 64KiB or 1MiB between 0 and 1125899906842624 "
                 "bytes, got '-1'"},
        KeyError{"limits:\n  max_connections: 0\n", 5, "limits.max_connections",
                 "expected an integer between 1 and 10000000, got '0'"},
        KeyError{"timeouts:\n  idle: soon\n", 5, "timeouts.idle",
                 "expected a duration such as 500ms, 10s, 5m or 8h, got 'soon'"},
        KeyError{"timeouts:\n  header: 0s\n", 5, "timeouts.header", "must be greater than 0"},
        KeyError{"timeouts:\n  upstream_connect: 0\n", 5, "timeouts.upstream_connect",
                 "must be greater than 0"},
        KeyError{"timeouts:\n  drain: 5 minutes\n", 5, "timeouts.drain",
                 "expected a duration such as 500ms, 10s, 5m or 8h, got '5 minutes'"},
        KeyError{"upstream_pool:\n  max_idle: lots\n", 5, "upstream_pool.max_idle",
                 "expected an integer between 0 and 100000, got 'lots'"},
        KeyError{"log:\n  level: loud\n", 5, "log.level",
                 "expected one of trace, debug, info, warn, error, critical, off; got 'loud'"},
        KeyError{"log:\n  format: xml\n", 5, "log.format", "expected one of text, json; got 'xml'"},
        KeyError{"listn: 127.0.0.1:1\n", 4, "listn", "unknown key (misspelt, or not valid here)"},
        KeyError{"keytab: /other\n", 4, "keytab", "duplicate key (an earlier line sets it too)"},
        KeyError{"timeouts:\n  idel: 5s\n", 5, "timeouts.idel",
                 "unknown key (misspelt, or not valid here)"}));

TEST_F(ConfigTest, RequiredKeysMissingOrEmptyAreReported) {
  const std::string none = error("log:\n  level: info\n");
  EXPECT_THAT(none, HasSubstr(file() + ": key 'listen' is required but missing"));
  EXPECT_THAT(none, HasSubstr(file() + ": key 'upstream' is required but missing"));
  EXPECT_THAT(none, HasSubstr(file() + ": key 'keytab' is required but missing"));
  const std::string empty =
      error("listen: 127.0.0.1:8080\nupstream: http://127.0.0.1:9000\nkeytab: \"\"\n");
  EXPECT_EQ(empty, file() + ":3: key 'keytab': must not be empty");
}

TEST_F(ConfigTest, RouteWithoutPathIsReported) {
  const std::string msg = error(std::string(kMinimal) + "routes:\n  - auth: none\n");
  EXPECT_THAT(msg, HasSubstr("key 'routes[0].path' is required but missing"));
}

TEST_F(ConfigTest, EveryErrorIsReportedOnePerLine) {
  const std::string msg = error(std::string(kMinimal) +
                                "threads: x\n"       // 4
                                "timeouts:\n"        // 5
                                "  idle: soon\n"     // 6
                                "log:\n"             // 7
                                "  level: loud\n");  // 8
  std::vector<std::string> lines;
  for (auto part : splitTrimmed(msg, '\n')) lines.emplace_back(part);
  ASSERT_EQ(lines.size(), 3u) << msg;
  EXPECT_THAT(lines[0], HasSubstr(":4: key 'threads'"));
  EXPECT_THAT(lines[1], HasSubstr(":6: key 'timeouts.idle'"));
  EXPECT_THAT(lines[2], HasSubstr(":8: key 'log.level'"));
}

TEST_F(ConfigTest, NotYamlOrNotAMappingOrMissingFile) {
  EXPECT_THAT(error("listen: [unclosed\n"), HasSubstr(file() + ":"));
  EXPECT_THAT(error("listen: [unclosed\n"), HasSubstr("not valid YAML"));
  EXPECT_THAT(error("- a\n- b\n"), HasSubstr("expected a mapping of keys at the top level"));
  auto missing = loadProxyConfig((dir_ / "absent.yaml").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(messageOf(missing.status()), HasSubstr("absent.yaml: cannot open config file"));
}

TEST_F(ConfigTest, RoutesAreSortedLongestFirstStably) {
  auto cfg = load(std::string(kMinimal) + R"(routes:
  - path: /
  - path: /a
    auth: none
  - path: /abc/def
  - path: /bb
  - path: /ab
    allow: [alice@R]
  - path: /abc
)");
  ASSERT_NE(cfg, nullptr);
  std::vector<std::string> order;
  for (const auto& r : cfg->routes) order.push_back(r.path);
  EXPECT_EQ(order, (std::vector<std::string>{"/abc/def", "/abc", "/bb", "/ab", "/a", "/"}));
  // Each route kept its own settings through the sort.
  EXPECT_EQ(cfg->routes[4].auth, Route::Auth::kNone);
  EXPECT_EQ(cfg->routes[3].allow, std::vector<std::string>{"alice@R"});
  EXPECT_EQ(cfg->routes[5].auth, Route::Auth::kNegotiate);
}

TEST_F(ConfigTest, TrailingSlashOfARouteIsDropped) {
  auto cfg = load(std::string(kMinimal) + "routes:\n  - path: /app/\n  - path: /\n");
  ASSERT_NE(cfg, nullptr);
  EXPECT_EQ(cfg->routes[0].path, "/app");
  EXPECT_EQ(cfg->routes[1].path, "/");
}

TEST_F(ConfigTest, ListedRoutesReplaceTheDefaultRoute) {
  // Without a "/" route, paths outside the listed ones get 404 (no implicit default).
  auto cfg = load(std::string(kMinimal) + "routes:\n  - path: /app\n");
  ASSERT_NE(cfg, nullptr);
  ASSERT_EQ(cfg->routes.size(), 1u);
  EXPECT_EQ(cfg->routes[0].path, "/app");
  EXPECT_EQ(cfg->routes[0].auth, Route::Auth::kNegotiate);
}

TEST_F(ConfigTest, DuplicateRouteIsRefused) {
  EXPECT_EQ(error(std::string(kMinimal) + "routes:\n"         // 4
                                          "  - path: /app\n"  // 5
                                          "  - path: /\n"     // 6
                                          "  - path: /app\n"  // 7
                                          "    auth: none\n"),
            file() + ":7: key 'routes[2].path': route '/app' is listed twice");
  // "/app/" is the same route as "/app".
  EXPECT_EQ(error(std::string(kMinimal) + "routes:\n  - path: /app\n  - path: /app/\n"),
            file() + ":6: key 'routes[1].path': route '/app' is listed twice");
  EXPECT_THAT(error(std::string(kMinimal) + "routes:\n  - path: /\n  - path: /\n"),
              HasSubstr("route '/' is listed twice"));
}

TEST_F(ConfigTest, AllowOnAuthNoneIsRefused) {
  EXPECT_EQ(error(std::string(kMinimal) + "routes:\n"
                                          "  - path: /public\n"
                                          "    auth: none\n"
                                          "    allow: [\"*@EXAMPLE.COM\"]\n"),
            file() +
                ":7: key 'routes[0].allow': has no effect on a route with auth: none; remove it "
                "or use auth: negotiate");
}

TEST_F(ConfigTest, AllowAsASingleStringIsAOneElementList) {
  auto cfg = load(std::string(kMinimal) + "routes:\n  - path: /\n    allow: \"*@EXAMPLE.COM\"\n");
  ASSERT_NE(cfg, nullptr);
  EXPECT_EQ(cfg->routes[0].allow, std::vector<std::string>{"*@EXAMPLE.COM"});
}

TEST_F(ConfigTest, TlsSectionNeedsCertAndKeyAndKnowsItsKeys) {
  // `tls` became a real section with issue 4: a misspelt or incomplete one is an error.
  const std::string missing = error(std::string(kMinimal) + "tls: {enabled: true}\n");
  EXPECT_THAT(missing, HasSubstr("key 'tls.cert_file'"));
  EXPECT_THAT(missing, HasSubstr("key 'tls.key_file'"));
  EXPECT_THAT(missing, HasSubstr("key 'tls.enabled'"));
  auto cfg = load(std::string(kMinimal) +
                  "tls:\n  cert_file: /c.pem\n  key_file: /k.pem\n  min_version: \"1.3\"\n");
  ASSERT_NE(cfg, nullptr);
  ASSERT_TRUE(cfg->tls.has_value());
  EXPECT_EQ(cfg->tls->cert_file, "/c.pem");
  EXPECT_EQ(cfg->tls->key_file, "/k.pem");
  EXPECT_TRUE(cfg->tls->tls13_only);
  EXPECT_THAT(error(std::string(kMinimal) +
                    "tls:\n  cert_file: /c.pem\n  key_file: /k.pem\n  min_version: \"1.1\"\n"),
              HasSubstr("key 'tls.min_version'"));
}

TEST_F(ConfigTest, BasicNeedsTls) {
  EXPECT_THAT(error(std::string(kMinimal) + "basic:\n  enabled: true\n"),
              HasSubstr("key 'basic.enabled': Basic sends passwords: it is available only with a "
                        "tls listener"));
  auto cfg = load(std::string(kMinimal) +
                  "tls:\n  cert_file: /c.pem\n  key_file: /k.pem\nbasic:\n  enabled: true\n");
  ASSERT_NE(cfg, nullptr);
  EXPECT_TRUE(cfg->basic.enabled);
  EXPECT_EQ(cfg->basic.realm, "gssgate");
}

TEST_F(ConfigTest, BrokerKeyIsNeverSilentlyIgnored) {
  // `broker` is being added (issue 3) as "unix:/path"; until then it was refused outright.
  // Either way, a value this version cannot use is an error naming the key and line.
  for (const char* value : {"{enabled: true}", "tcp://127.0.0.1:1", "[a, b]"}) {
    SCOPED_TRACE(value);
    EXPECT_THAT(error(strCat(kMinimal, "broker: ", value, "\n")),
                HasSubstr(strCat(file(), ":4: key 'broker': ")));
  }
}

TEST_F(ConfigTest, BadListenForms) {
  for (const char* bad :
       {"8080", ":8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:99999999999",
        "127.0.0.1:http", "127.0.0.1:80x", "127.0.0.1:-1", "127.0.0.1:+80", "::1:8080", "[::1]8080",
        "[::1]", "[::1]:", "[]:8080", "[::1:8080"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(error(strCat("listen: \"", bad,
                           "\"\nupstream: http://127.0.0.1:9000\n"
                           "keytab: /k\n")),
              strCat(file(),
                     ":1: key 'listen': expected host:port such as 127.0.0.1:8080 or "
                     "[::1]:8080, got '",
                     bad, "'"));
  }
}

TEST_F(ConfigTest, ListenHostMustBeAnIpAddress) {
  // README: "The host must be an IP address." --check-config must say so, not the bind.
  for (const char* bad : {"localhost:8080", "www.example.com:80", "[localhost]:80",
                          "127.0.0.256:80", "0x7f.1:80", " :8080", "[::1x]:80"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(error(strCat("listen: \"", bad, "\"\nupstream: http://127.0.0.1:9000\nkeytab: /k\n")),
              strCat(file(), ":1: key 'listen': the host must be an IP address, got '", bad, "'"));
    EXPECT_THAT(error(strCat(kMinimal, "admin_listen: \"", bad, "\"\n")),
                HasSubstr(strCat(":4: key 'admin_listen': the host must be an IP address")));
  }
}

TEST_F(ConfigTest, GoodListenForms) {
  struct Case {
    const char* text;
    const char* host;
    uint16_t port;
    const char* round_trip;
  };
  for (const Case& c :
       {Case{"0.0.0.0:8080", "0.0.0.0", 8080, "0.0.0.0:8080"},
        Case{"127.0.0.1:65535", "127.0.0.1", 65535, "127.0.0.1:65535"},
        Case{"\"[::1]:8443\"", "::1", 8443, "[::1]:8443"}, Case{"\"[::]:80\"", "::", 80, "[::]:80"},
        Case{"\"[fe80::1%lo]:80\"", "fe80::1%lo", 80, "[fe80::1%lo]:80"}}) {
    SCOPED_TRACE(c.text);
    auto cfg = load(strCat("listen: ", c.text,
                           "\nupstream: http://127.0.0.1:9000\nkeytab: /k\n"
                           "admin_listen: ",
                           c.text, "\n"));
    ASSERT_NE(cfg, nullptr);
    EXPECT_EQ(cfg->listen.host, c.host);
    EXPECT_EQ(cfg->listen.port, c.port);
    EXPECT_EQ(cfg->listen.text(), c.round_trip);
    ASSERT_TRUE(cfg->admin_listen.has_value());
    EXPECT_EQ(cfg->admin_listen->text(), c.round_trip);
  }
}

TEST_F(ConfigTest, BadUpstreamForms) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {
           Case{"127.0.0.1:9000",
                "expected http://host:port, https://host:port or unix:/path, got '127.0.0.1:9000'"},
           Case{"ftp://127.0.0.1:21",
                "expected http://host:port, https://host:port or unix:/path, got "
                "'ftp://127.0.0.1:21'"},
           Case{"HTTP://127.0.0.1:9000",
                "expected http://host:port, https://host:port or unix:/path, got "
                "'HTTP://127.0.0.1:9000'"},
           Case{"http://127.0.0.1", "expected http://host:port, got 'http://127.0.0.1'"},
           Case{"http://127.0.0.1:", "expected http://host:port, got 'http://127.0.0.1:'"},
           Case{"http://:9000", "expected http://host:port, got 'http://:9000'"},
           Case{"http://", "expected http://host:port, got 'http://'"},
           Case{"http://127.0.0.1:70000",
                "expected http://host:port, got "
                "'http://127.0.0.1:70000'"},
           Case{"http://[::1]", "expected http://host:port, got 'http://[::1]'"},
           Case{"http://127.0.0.1:9000/app",
                "a path in the upstream URL is not supported; give http(s)://host:port"},
           Case{"http://127.0.0.1:9000//",
                "a path in the upstream URL is not supported; give "
                "http(s)://host:port"},
           Case{"unix:", "expected unix:/absolute/path/to.sock"},
           Case{"unix:app.sock", "expected unix:/absolute/path/to.sock"},
           Case{"unix:./app.sock", "expected unix:/absolute/path/to.sock"},
       }) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(error(strCat("listen: 127.0.0.1:8080\nupstream: \"", c.text, "\"\nkeytab: /k\n")),
              strCat(file(), ":2: key 'upstream': ", c.message));
  }
}

TEST_F(ConfigTest, GoodUpstreamForms) {
  auto tcp = [&](const char* text) {
    return load(strCat("listen: 127.0.0.1:8080\nupstream: \"", text, "\"\nkeytab: /k\n"));
  };
  auto slash = tcp("http://127.0.0.1:9000/");
  ASSERT_NE(slash, nullptr);
  EXPECT_EQ(slash->upstream.kind, UpstreamTarget::Kind::kTcp);
  EXPECT_EQ(slash->upstream.tcp.text(), "127.0.0.1:9000");
  EXPECT_EQ(slash->upstream.original, "http://127.0.0.1:9000/");

  auto name = tcp("http://app.internal:8081");  // names are resolved later, at start
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(name->upstream.tcp.host, "app.internal");
  EXPECT_EQ(name->upstream.tcp.port, 8081);

  auto v6 = tcp("http://[::1]:9000");
  ASSERT_NE(v6, nullptr);
  EXPECT_EQ(v6->upstream.tcp.host, "::1");
  EXPECT_EQ(v6->upstream.tcp.port, 9000);
}

TEST_F(ConfigTest, UnixUpstream) {
  auto cfg = load("listen: 127.0.0.1:8080\nupstream: unix:/run/app/app.sock\nkeytab: /k\n");
  ASSERT_NE(cfg, nullptr);
  EXPECT_EQ(cfg->upstream.kind, UpstreamTarget::Kind::kUnix);
  EXPECT_EQ(cfg->upstream.unix_path, "/run/app/app.sock");
  EXPECT_EQ(cfg->upstream.original, "unix:/run/app/app.sock");
}

TEST_F(ConfigTest, SizesAndDurationsTakeUnits) {
  auto cfg = load(std::string(kMinimal) +
                  "limits:\n  header_bytes: 1MiB\n  body_bytes: 0\n"
                  "timeouts:\n  idle: 1d\n  body: 90\n");
  ASSERT_NE(cfg, nullptr);
  EXPECT_EQ(cfg->limits.header_bytes, 1u << 20);
  EXPECT_EQ(cfg->limits.body_bytes, 0u);
  EXPECT_EQ(cfg->timeouts.idle, 24h);
  EXPECT_EQ(cfg->timeouts.body, 90s);  // a bare number is seconds
}

TEST(ParseHostPort, Forms) {
  auto v4 = parseHostPort("10.1.2.3:443");
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->host, "10.1.2.3");
  EXPECT_EQ(v4->port, 443);
  EXPECT_EQ(v4->text(), "10.1.2.3:443");

  auto v6 = parseHostPort("[2001:db8::1]:8080");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->host, "2001:db8::1");
  EXPECT_EQ(v6->port, 8080);
  EXPECT_EQ(v6->text(), "[2001:db8::1]:8080");

  auto name = parseHostPort("example.com:80");  // a name: fine for upstreams
  ASSERT_TRUE(name.has_value());
  EXPECT_EQ(name->host, "example.com");

  auto zero = parseHostPort("127.0.0.1:0");
  ASSERT_TRUE(zero.has_value());
  EXPECT_EQ(zero->port, 0);
  auto max = parseHostPort("127.0.0.1:65535");
  ASSERT_TRUE(max.has_value());
  EXPECT_EQ(max->port, 65535);
  auto leadingZero = parseHostPort("127.0.0.1:0080");
  ASSERT_TRUE(leadingZero.has_value());
  EXPECT_EQ(leadingZero->port, 80);

  for (const char* bad : {"",
                          ":",
                          "127.0.0.1",
                          "127.0.0.1:",
                          ":80",
                          "127.0.0.1:65536",
                          "127.0.0.1:4294967376",
                          "127.0.0.1:18446744073709551696",
                          "127.0.0.1:-1",
                          "127.0.0.1:+1",
                          "127.0.0.1: 80",
                          "127.0.0.1:80 ",
                          "127.0.0.1:8o",
                          "::1:80",
                          "[::1]",
                          "[::1]:",
                          "[::1]80",
                          "[::1",
                          "[]:80",
                          "[::1]:80:90",
                          "a:b:80"}) {
    EXPECT_FALSE(parseHostPort(bad).has_value()) << "'" << bad << "'";
  }
}

// ---------------------------------------------------------------------------- issue 4 keys

TEST_F(ConfigTest, SessionAssertionAndPageDefaults) {
  auto cfg = load(kMinimal);
  ASSERT_NE(cfg, nullptr);
  EXPECT_EQ(cfg->session.key_file, "");
  EXPECT_EQ(cfg->session.lifetime, 1h);
  EXPECT_EQ(cfg->session.cookie_name, "gssgate_session");
  EXPECT_EQ(cfg->session.logout_path, "/.gssgate/logout");
  EXPECT_EQ(cfg->assertion.key_file, "");
  EXPECT_EQ(cfg->assertion.issuer, "gssgate");
  EXPECT_EQ(cfg->assertion.audience, "gssgate");
  EXPECT_EQ(cfg->assertion.lifetime, 60s);
  EXPECT_EQ(cfg->unauthorized_page, "");
  ASSERT_EQ(cfg->routes.size(), 1u);
  EXPECT_TRUE(cfg->routes[0].deny.empty());
  EXPECT_TRUE(cfg->routes[0].realms.empty());
  EXPECT_EQ(cfg->routes[0].fallback, "");
  // An empty section is the defaults too.
  auto empty = load(std::string(kMinimal) + "session: {}\nassertion: {}\n");
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->session.lifetime, 1h);
  EXPECT_EQ(empty->assertion.lifetime, 60s);
}

TEST_F(ConfigTest, SessionAssertionAndPageValues) {
  auto cfg = load(std::string(kMinimal) +
                  "session:\n"
                  "  key_file: /etc/gssgate/session.keys\n"
                  "  lifetime: 8h\n"
                  "  cookie_name: App-Session_2\n"
                  "  logout_path: /signout\n"
                  "assertion:\n"
                  "  key_file: /etc/gssgate/jwt.pem\n"
                  "  issuer: https://gssgate.example.com\n"
                  "  audience: payroll\n"
                  "  lifetime: 30s\n"
                  "unauthorized_page: /etc/gssgate/401.html\n"
                  "routes:\n"
                  "  - path: /admin\n"
                  "    allow: [\"*@EXAMPLE.COM\"]\n"
                  "    deny: [\"guest@EXAMPLE.COM\", \"svc-*@*\"]\n"
                  "    realms: [EXAMPLE.COM]\n"
                  "    fallback: https://sso.example.com/login?next=%2Fadmin&x=1\n"
                  "  - path: /\n"
                  "    deny: mallory@EXAMPLE.COM\n"
                  "    realms: EXAMPLE.COM\n"
                  "    fallback: /login\n");
  ASSERT_NE(cfg, nullptr);
  EXPECT_EQ(cfg->session.key_file, "/etc/gssgate/session.keys");
  EXPECT_EQ(cfg->session.lifetime, 8h);
  EXPECT_EQ(cfg->session.cookie_name, "App-Session_2");
  EXPECT_EQ(cfg->session.logout_path, "/signout");
  EXPECT_EQ(cfg->assertion.key_file, "/etc/gssgate/jwt.pem");
  EXPECT_EQ(cfg->assertion.issuer, "https://gssgate.example.com");
  EXPECT_EQ(cfg->assertion.audience, "payroll");
  EXPECT_EQ(cfg->assertion.lifetime, 30s);
  EXPECT_EQ(cfg->unauthorized_page, "/etc/gssgate/401.html");
  ASSERT_EQ(cfg->routes.size(), 2u);
  const Route& admin = cfg->routes[0];
  EXPECT_EQ(admin.path, "/admin");
  EXPECT_EQ(admin.deny, (std::vector<std::string>{"guest@EXAMPLE.COM", "svc-*@*"}));
  EXPECT_EQ(admin.realms, std::vector<std::string>{"EXAMPLE.COM"});
  EXPECT_EQ(admin.fallback, "https://sso.example.com/login?next=%2Fadmin&x=1");
  const Route& root = cfg->routes[1];
  EXPECT_EQ(root.deny, std::vector<std::string>{"mallory@EXAMPLE.COM"});  // one string = a list
  EXPECT_EQ(root.realms, std::vector<std::string>{"EXAMPLE.COM"});
  EXPECT_EQ(root.fallback, "/login");
}

TEST_F(ConfigTest, SessionLifetimeBounds) {
  auto off = load(std::string(kMinimal) + "session:\n  lifetime: 0\n");
  ASSERT_NE(off, nullptr);
  EXPECT_EQ(off->session.lifetime, 0s);  // no session cookie
  auto max = load(std::string(kMinimal) + "session:\n  lifetime: 30d\n");
  ASSERT_NE(max, nullptr);
  EXPECT_EQ(max->session.lifetime, 720h);
  for (const char* bad : {"31d", "721h", "2592001s", "100000d"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(error(strCat(kMinimal, "session:\n  lifetime: ", bad, "\n")),
              file() + ":5: key 'session.lifetime': expected 0 (no session cookie) up to 30d");
  }
  EXPECT_THAT(error(std::string(kMinimal) + "session:\n  lifetime: -1s\n"),
              HasSubstr(":5: key 'session.lifetime': expected a duration"));
  EXPECT_THAT(error(std::string(kMinimal) + "session:\n  lifetime: forever\n"),
              HasSubstr(":5: key 'session.lifetime': expected a duration"));
}

// A non-zero lifetime below one second would truncate to 0 s and silently turn session
// cookies off: non-whole-second lifetimes are refused.
TEST_F(ConfigTest, SubSecondSessionLifetimeIsRefusedNotSilentlyOff) {
  EXPECT_THAT(error(std::string(kMinimal) + "session:\n  lifetime: 500ms\n"),
              HasSubstr(":5: key 'session.lifetime'"));
}

TEST_F(ConfigTest, AssertionLifetimeIsOneToSixtySeconds) {
  for (const char* good : {"1s", "1", "60s", "1m", "2000ms"}) {
    SCOPED_TRACE(good);
    auto cfg = load(strCat(kMinimal, "assertion:\n  lifetime: ", good, "\n"));
    ASSERT_NE(cfg, nullptr);
    EXPECT_GE(cfg->assertion.lifetime, 1s);
    EXPECT_LE(cfg->assertion.lifetime, 60s);
  }
  for (const char* bad : {"0", "500ms", "61s", "2m", "1h"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(error(strCat(kMinimal, "assertion:\n  lifetime: ", bad, "\n")),
              file() +
                  ":5: key 'assertion.lifetime': expected 1s up to 60s (an assertion is meant "
                  "to be short-lived)");
  }
  EXPECT_EQ(error(strCat(kMinimal, "assertion:\n  lifetime: 1500ms\n")),
            file() + ":5: key 'assertion.lifetime': expected whole seconds");
  EXPECT_EQ(error(std::string(kMinimal) + "assertion:\n  audience: \"\"\n"),
            file() + ":5: key 'assertion.audience': must not be empty");
}

TEST_F(ConfigTest, BadCookieNamesAreRefused) {
  for (const char* bad : {"\"a;b\"", "\"sess ion\"", "\"a=b\"", "\"s\\u00e9ssion\"", "\"a,b\"",
                          "\"x\\\"y\"", "\"\""}) {
    SCOPED_TRACE(bad);
    const std::string msg = error(strCat(kMinimal, "session:\n  cookie_name: ", bad, "\n"));
    EXPECT_THAT(msg, HasSubstr(file() + ":5: key 'session.cookie_name': expected letters, "
                                        "digits, '_' or '-', got '"));
    EXPECT_EQ(splitTrimmed(msg, '\n').size(), 1u) << msg;
  }
  EXPECT_THAT(error(std::string(kMinimal) + "session:\n  cookie_name: \"a;b\"\n"),
              HasSubstr("got 'a;b'"));
}

TEST_F(ConfigTest, LogoutPathMustBeAbsoluteOrEmpty) {
  EXPECT_EQ(error(std::string(kMinimal) + "session:\n  logout_path: logout\n"),
            file() + ":5: key 'session.logout_path': must start with '/', got 'logout'");
  auto none = load(std::string(kMinimal) + "session:\n  logout_path: \"\"\n");
  ASSERT_NE(none, nullptr);
  EXPECT_EQ(none->session.logout_path, "");  // no logout path
}

TEST_F(ConfigTest, UnknownSessionOrAssertionKeyIsReported) {
  EXPECT_THAT(error(std::string(kMinimal) + "session:\n  lifetme: 1h\n"),
              HasSubstr(":5: key 'session.lifetme': unknown key"));
  EXPECT_THAT(error(std::string(kMinimal) + "assertion:\n  algorithm: RS256\n"),
              HasSubstr(":5: key 'assertion.algorithm': unknown key"));
}

TEST_F(ConfigTest, FallbackMustBeAPlainHttpUrlOrAbsolutePath) {
  for (const char* good :
       {"https://sso.example.com/login", "http://10.0.0.1:8080/x?a=b&c=%22", "/login", "/"}) {
    SCOPED_TRACE(good);
    auto cfg = load(strCat(kMinimal, "routes:\n  - path: /\n    fallback: \"", good, "\"\n"));
    ASSERT_NE(cfg, nullptr);
    EXPECT_EQ(cfg->routes[0].fallback, good);
  }
  for (const char* bad :
       {"javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,x", "//evil.example/x",
        "login", "ftp://x/", "https://x/\\\"onmouseover=alert(1)", "/it's", "/a b",
        "https://x/<script>", "/a>b", "/back\\\\slash", "/tick`", "https://x/\\tz",
        "/caf\\u00e9"}) {
    SCOPED_TRACE(bad);
    const std::string msg =
        error(strCat(kMinimal, "routes:\n  - path: /\n    fallback: \"", bad, "\"\n"));
    EXPECT_THAT(msg, HasSubstr(file() + ":6: key 'routes[0].fallback': expected an http(s):// "
                                        "URL or an absolute path without quotes, '<', '>' or "
                                        "spaces, got '"));
  }
}

TEST_F(ConfigTest, LocalNamesRefuseRootByDefaultAndTakeExceptions) {
  auto cfg = load(kMinimal);
  ASSERT_TRUE(cfg);
  EXPECT_STREQ(cfg->local_names.refusal("root"), "privileged_local_name");
  EXPECT_EQ(cfg->local_names.refusal("alice"), nullptr);
  cfg = load(std::string(kMinimal) +
             "local_names:\n  refuse: [postgres]\n  allow_privileged: [root]\n");
  ASSERT_TRUE(cfg);
  EXPECT_EQ(cfg->local_names.refusal("root"), nullptr);
  EXPECT_STREQ(cfg->local_names.refusal("postgres"), "refused_local_name");
  EXPECT_STREQ(cfg->local_names.refusal("0"), "privileged_local_name");
  EXPECT_THAT(error(std::string(kMinimal) + "local_names:\n  allow_root: true\n"),
              HasSubstr("local_names.allow_root"));
}

TEST_F(ConfigTest, DenyAndRealmsOnAuthNoneAreRefused) {
  for (const char* key : {"deny", "realms"}) {
    SCOPED_TRACE(key);
    EXPECT_EQ(error(strCat(kMinimal, "routes:\n  - path: /public\n    auth: none\n    ", key,
                           ": [\"x@EXAMPLE.COM\"]\n")),
              strCat(file(), ":7: key 'routes[0].", key,
                     "': has no effect on a route with auth: none; remove it or use auth: "
                     "negotiate"));
    EXPECT_EQ(error(strCat(kMinimal, "routes:\n  - path: /\n    ", key, ": [a, \"\"]\n")),
              strCat(file(), ":6: key 'routes[0].", key, "': empty entry"));
  }
}

}  // namespace
}  // namespace gssgate::proxy

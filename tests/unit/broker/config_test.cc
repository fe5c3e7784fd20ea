#include "broker/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>  // mkdtemp
#include <filesystem>
#include <fstream>
#include <string>

#include "common/strings.h"

namespace gssgate::broker {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr const char* kMinimal =
    "listen: /run/gssgate/broker.sock\n"
    "deposit_listen: /run/gssgate/deposit.sock\n";

class BrokerConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gssgate-bconfig-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string write(const std::string& text) {
    std::string path = (dir_ / "broker.yaml").string();
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return path;
  }

  std::shared_ptr<const BrokerConfig> load(const std::string& text) {
    auto cfg = loadBrokerConfig(write(text));
    EXPECT_TRUE(cfg.ok()) << messageOf(cfg.status());
    return cfg.ok() ? *cfg : nullptr;
  }

  // The error text of a config that must fail to load.
  std::string error(const std::string& text) {
    auto cfg = loadBrokerConfig(write(text));
    EXPECT_FALSE(cfg.ok()) << "config unexpectedly loaded:\n" << text;
    return cfg.ok() ? std::string() : messageOf(cfg.status());
  }

  std::filesystem::path dir_;
};

TEST_F(BrokerConfigTest, MinimalConfigLoadsWithDefaults) {
  auto cfg = load(kMinimal);
  ASSERT_NE(cfg, nullptr);
  EXPECT_EQ(cfg->backend.path, "/run/gssgate/broker.sock");
  EXPECT_EQ(cfg->deposit.path, "/run/gssgate/deposit.sock");
  EXPECT_EQ(cfg->backend.mode, 0660U);
  EXPECT_EQ(cfg->deposit.mode, 0600U);
  EXPECT_FALSE(cfg->backend.owner.has_value());
  EXPECT_FALSE(cfg->backend.group.has_value());
  EXPECT_TRUE(cfg->policy.empty());
  EXPECT_EQ(cfg->handle_ttl, 5min);
  EXPECT_TRUE(cfg->store_dir.empty());  // memory store
  EXPECT_TRUE(cfg->handle_key_file.empty());
  EXPECT_EQ(cfg->max_credential_lifetime, 0s);
  EXPECT_EQ(cfg->service_ticket_min_remaining, 2min);
  EXPECT_EQ(cfg->sweep_interval, 30s);
  EXPECT_EQ(cfg->max_credentials, 1'000'000U);
  EXPECT_EQ(cfg->max_message_bytes, 64U * 1024U);
  EXPECT_EQ(cfg->kdc_timeout, 3s);
  EXPECT_EQ(cfg->max_kdc_requests, 128U);
}

TEST_F(BrokerConfigTest, MissingFileIsAnError) {
  EXPECT_FALSE(loadBrokerConfig((dir_ / "absent.yaml").string()).ok());
}

TEST_F(BrokerConfigTest, BothSocketsAreRequired) {
  EXPECT_THAT(error("listen: /run/b.sock\n"), HasSubstr("deposit_listen"));
  EXPECT_THAT(error("deposit_listen: /run/d.sock\n"), HasSubstr("'listen'"));
}

TEST_F(BrokerConfigTest, SamePathForBothSocketsIsAnError) {
  EXPECT_THAT(error("listen: /run/gssgate.sock\ndeposit_listen: /run/gssgate.sock\n"),
              HasSubstr("must differ"));
  // Also when only one of them is spelt with the unix: prefix.
  EXPECT_THAT(error("listen: unix:/run/gssgate.sock\ndeposit_listen: /run/gssgate.sock\n"),
              HasSubstr("must differ"));
}

TEST_F(BrokerConfigTest, UnixPrefixIsAccepted) {
  auto cfg = load("listen: unix:/run/b.sock\ndeposit_listen: unix:/run/d.sock\n");
  ASSERT_NE(cfg, nullptr);
  EXPECT_EQ(cfg->backend.path, "/run/b.sock");
  EXPECT_EQ(cfg->deposit.path, "/run/d.sock");
}

TEST_F(BrokerConfigTest, RelativeOrTcpSocketPathsAreErrors) {
  EXPECT_THAT(error("listen: run/b.sock\ndeposit_listen: /run/d.sock\n"), HasSubstr("absolute"));
  EXPECT_THAT(error("listen: /run/b.sock\ndeposit_listen: unix:d.sock\n"), HasSubstr("absolute"));
  EXPECT_THAT(error("listen: 127.0.0.1:9000\ndeposit_listen: /run/d.sock\n"),
              HasSubstr("absolute"));
}

TEST_F(BrokerConfigTest, PolicyEntries) {
  auto cfg = load(std::string(kMinimal) +
                  "policy:\n"
                  "  - uid: any\n"
                  "    services: [postgres/*]\n"
                  "  - uid: 1000\n"
                  "    services: [HTTP/web.example.com, ldap/*]\n"
                  "    allow_tgt: true\n"
                  "  - uid: root\n"
                  "    services: imap/mail.example.com\n");
  ASSERT_NE(cfg, nullptr);
  ASSERT_EQ(cfg->policy.size(), 3U);
  EXPECT_FALSE(cfg->policy[0].uid.has_value());
  EXPECT_EQ(cfg->policy[0].services, std::vector<std::string>{"postgres/*"});
  EXPECT_FALSE(cfg->policy[0].allow_tgt);
  ASSERT_TRUE(cfg->policy[1].uid.has_value());
  EXPECT_EQ(*cfg->policy[1].uid, 1000U);
  EXPECT_EQ(cfg->policy[1].services, (std::vector<std::string>{"HTTP/web.example.com", "ldap/*"}));
  EXPECT_TRUE(cfg->policy[1].allow_tgt);
  ASSERT_TRUE(cfg->policy[2].uid.has_value());
  EXPECT_EQ(*cfg->policy[2].uid, 0U);  // 'root' by name
  EXPECT_EQ(cfg->policy[2].services, std::vector<std::string>{"imap/mail.example.com"});
}

TEST_F(BrokerConfigTest, PolicyUidMustBeANumberANameOrAny) {
  EXPECT_THAT(error(std::string(kMinimal) +
                    "policy:\n  - uid: no-such-user-gssgate\n    services: [postgres/*]\n"),
              HasSubstr("no-such-user-gssgate"));
  EXPECT_THAT(error(std::string(kMinimal) + "policy:\n  - services: [postgres/*]\n"),
              HasSubstr("uid"));
  EXPECT_THAT(error(std::string(kMinimal) + "policy:\n  - uid: ''\n    services: [postgres/*]\n"),
              HasSubstr("must not be empty"));
  EXPECT_THAT(error(std::string(kMinimal) + "policy:\n  - uid: -1\n    services: [postgres/*]\n"),
              HasSubstr("uid"));
}

TEST_F(BrokerConfigTest, PolicyServicesAreRequired) {
  EXPECT_THAT(error(std::string(kMinimal) + "policy:\n  - uid: any\n"),
              HasSubstr("at least one service"));
  EXPECT_THAT(error(std::string(kMinimal) + "policy:\n  - uid: any\n    services: []\n"),
              HasSubstr("at least one service"));
}

TEST_F(BrokerConfigTest, RealmInAServiceGlobIsRefused) {
  EXPECT_THAT(error(std::string(kMinimal) +
                    "policy:\n  - uid: any\n    services: [postgres/db@EXAMPLE.COM]\n"),
              HasSubstr("without a realm"));
  EXPECT_THAT(
      error(std::string(kMinimal) + "policy:\n  - uid: any\n    services: ['postgres/*@*']\n"),
      HasSubstr("without a realm"));
}

TEST_F(BrokerConfigTest, AllowTgtMustBeABoolean) {
  EXPECT_THAT(error(std::string(kMinimal) +
                    "policy:\n  - uid: any\n    services: [x/y]\n    allow_tgt: maybe\n"),
              HasSubstr("true or false"));
}

TEST_F(BrokerConfigTest, DirStore) {
  auto cfg = load(std::string(kMinimal) + "store: dir:/var/lib/gssgate\n");
  ASSERT_NE(cfg, nullptr);
  EXPECT_EQ(cfg->store_dir, "/var/lib/gssgate");
  cfg = load(std::string(kMinimal) + "store: memory\n");
  ASSERT_NE(cfg, nullptr);
  EXPECT_TRUE(cfg->store_dir.empty());
}

TEST_F(BrokerConfigTest, BadStoreValues) {
  for (const char* bad : {"disk", "dir:", "dir:/", "dir:relative", "/var/lib/gssgate", "Memory"}) {
    EXPECT_THAT(error(strCat(kMinimal, "store: '", bad, "'\n")), HasSubstr("'store'")) << bad;
  }
}

TEST_F(BrokerConfigTest, SocketModes) {
  auto cfg = load(std::string(kMinimal) +
                  "sockets:\n"
                  "  listen: {mode: \"0660\", owner: \"0\", group: \"0\"}\n"
                  "  deposit_listen: {mode: \"0600\", owner: root}\n");
  ASSERT_NE(cfg, nullptr);
  EXPECT_EQ(cfg->backend.mode, 0660U);
  EXPECT_EQ(cfg->deposit.mode, 0600U);
  ASSERT_TRUE(cfg->backend.owner.has_value());
  EXPECT_EQ(*cfg->backend.owner, 0U);
  ASSERT_TRUE(cfg->backend.group.has_value());
  EXPECT_EQ(*cfg->backend.group, 0U);
  ASSERT_TRUE(cfg->deposit.owner.has_value());
  EXPECT_EQ(*cfg->deposit.owner, 0U);
}

TEST_F(BrokerConfigTest, SocketModesGivingOthersAccessAreRefused) {
  for (const char* bad : {"0666", "0604", "0661", "0777"}) {
    EXPECT_THAT(error(strCat(kMinimal, "sockets:\n  listen: {mode: \"", bad, "\"}\n")),
                HasSubstr("no access for others"))
        << bad;
  }
  for (const char* bad : {"rw-rw----", "0680", "01660", "660x"}) {
    EXPECT_THAT(error(strCat(kMinimal, "sockets:\n  deposit_listen: {mode: \"", bad, "\"}\n")),
                HasSubstr("octal mode"))
        << bad;
  }
}

TEST_F(BrokerConfigTest, UnknownSocketOwnerIsAnError) {
  EXPECT_THAT(error(std::string(kMinimal) + "sockets:\n  listen: {owner: no-such-user-gssgate}\n"),
              HasSubstr("no such user"));
  EXPECT_THAT(error(std::string(kMinimal) + "sockets:\n  listen: {group: no-such-group-gssgate}\n"),
              HasSubstr("no such group"));
}

TEST_F(BrokerConfigTest, HandleTtlBounds) {
  auto cfg = load(std::string(kMinimal) + "handle_ttl: 90s\n");
  ASSERT_NE(cfg, nullptr);
  EXPECT_EQ(cfg->handle_ttl, 90s);
  EXPECT_THAT(error(std::string(kMinimal) + "handle_ttl: 0s\n"), HasSubstr("handle_ttl"));
  EXPECT_THAT(error(std::string(kMinimal) + "handle_ttl: 25h\n"), HasSubstr("handle_ttl"));
  EXPECT_THAT(error(std::string(kMinimal) + "handle_ttl: soon\n"), HasSubstr("duration"));
}

TEST_F(BrokerConfigTest, KdcTimeoutAndLimit) {
  auto cfg = load(std::string(kMinimal) + "kdc_timeout: 750ms\nlimits: {max_kdc_requests: 4}\n");
  ASSERT_NE(cfg, nullptr);
  EXPECT_EQ(cfg->kdc_timeout, 750ms);
  EXPECT_EQ(cfg->max_kdc_requests, 4U);
  EXPECT_THAT(error(std::string(kMinimal) + "kdc_timeout: 10ms\n"), HasSubstr("kdc_timeout"));
  EXPECT_THAT(error(std::string(kMinimal) + "kdc_timeout: 1h\n"), HasSubstr("kdc_timeout"));
  EXPECT_THAT(error(std::string(kMinimal) + "kdc_timeout: never\n"), HasSubstr("duration"));
  EXPECT_THAT(error(std::string(kMinimal) + "limits: {max_kdc_requests: 0}\n"),
              HasSubstr("max_kdc_requests"));
}

TEST_F(BrokerConfigTest, OtherSettings) {
  auto cfg = load(std::string(kMinimal) +
                  "handle_key_file: /etc/gssgate/handle.key\n"
                  "max_credential_lifetime: 8h\n"
                  "service_ticket_min_remaining: 5m\n"
                  "sweep_interval: 10s\n"
                  "limits: {max_credentials: 10, max_message_bytes: 1MiB}\n"
                  "log: {level: debug, format: json}\n");
  ASSERT_NE(cfg, nullptr);
  EXPECT_EQ(cfg->handle_key_file, "/etc/gssgate/handle.key");
  EXPECT_EQ(cfg->max_credential_lifetime, 8h);
  EXPECT_EQ(cfg->service_ticket_min_remaining, 5min);
  EXPECT_EQ(cfg->sweep_interval, 10s);
  EXPECT_EQ(cfg->max_credentials, 10U);
  EXPECT_EQ(cfg->max_message_bytes, 1024U * 1024U);
  EXPECT_EQ(cfg->log.level, "debug");
  EXPECT_EQ(cfg->log.format, LogFormat::kJson);
  EXPECT_THAT(error(std::string(kMinimal) + "sweep_interval: 0s\n"), HasSubstr("sweep_interval"));
  EXPECT_THAT(error(std::string(kMinimal) + "limits: {max_credentials: 0}\n"),
              HasSubstr("max_credentials"));
}

TEST_F(BrokerConfigTest, UnknownKeysAreReported) {
  EXPECT_THAT(error(std::string(kMinimal) + "handle_tll: 5m\n"),
              HasSubstr("'handle_tll': unknown key"));
  EXPECT_THAT(error(std::string(kMinimal) + "policy:\n  - uid: any\n    services: [a/b]\n"
                                            "    alow_tgt: true\n"),
              HasSubstr("alow_tgt': unknown key"));
  EXPECT_THAT(error(std::string(kMinimal) + "sockets:\n  listen: {mod: \"0660\"}\n"),
              HasSubstr("'sockets.listen.mod': unknown key"));
  EXPECT_THAT(error(std::string(kMinimal) + "sockets:\n  lisen: {mode: \"0660\"}\n"),
              HasSubstr("'sockets.lisen': unknown key"));
}

TEST_F(BrokerConfigTest, EveryErrorIsReported) {
  const std::string msg = error(
      "listen: relative\n"
      "deposit_listen: relative2\n"
      "store: nowhere\n"
      "bogus: 1\n");
  EXPECT_THAT(msg, HasSubstr("'listen'"));
  EXPECT_THAT(msg, HasSubstr("'deposit_listen'"));
  EXPECT_THAT(msg, HasSubstr("'store'"));
  EXPECT_THAT(msg, HasSubstr("'bogus'"));
}

}  // namespace
}  // namespace gssgate::broker

#include "common/host_port.h"

#include <gtest/gtest.h>

namespace gssgate {
namespace {

TEST(HostPort, ParsesV4V6AndNames) {
  auto a = parseHostPort("127.0.0.1:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  EXPECT_EQ(a->text(), "127.0.0.1:8080");
  auto b = parseHostPort("[::1]:0");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(b->text(), "[::1]:0");
  EXPECT_TRUE(parseHostPort("db.example.com:5432"));
}

TEST(HostPort, RefusesMalformed) {
  for (const char* bad : {"", ":80", "host:", "host", "::1:80", "[::1]80", "[::1]:", "h:65536",
                          "h:-1", "h:8o", "h: 80", "[::1:80"}) {
    EXPECT_FALSE(parseHostPort(bad)) << bad;
  }
}

TEST(HostPort, IpLiterals) {
  EXPECT_TRUE(isIpLiteral("10.0.0.1"));
  EXPECT_TRUE(isIpLiteral("::1"));
  EXPECT_TRUE(isIpLiteral("fe80::1%eth0"));
  EXPECT_FALSE(isIpLiteral("localhost"));
  EXPECT_FALSE(isIpLiteral("10.0.0"));
}

}  // namespace
}  // namespace gssgate

#include "proxy/auth/local_name_policy.h"

#include <gtest/gtest.h>

namespace gssgate::proxy {
namespace {

constexpr std::string_view kPasswd =
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "toor:x:0:0:BSD-style alias:/root:/bin/sh\n"
    "zeroes:x:000:0::/:/bin/sh\n"
    "alice:x:1000:1000::/home/alice:/bin/bash\n"
    "# a comment:x:0:0\n"
    ":x:0:0:empty name:/:/bin/sh\n"
    "broken-line-without-fields\n"
    "uidzero-gid-only:x:1001:0::/:/bin/sh";  // gid 0 is not uid 0; no final newline

TEST(UidZeroNames, ReadsEveryUidZeroLine) {
  EXPECT_EQ(uidZeroNames(kPasswd),
            (std::vector<std::string>{"root", "toor", "zeroes", "# a comment"}));
  EXPECT_TRUE(uidZeroNames("").empty());
  EXPECT_TRUE(uidZeroNames("x:y\n:::\n").empty());
}

TEST(LocalNamePolicy, RootAndUidZeroNamesAreRefusedByDefault) {
  const auto p = LocalNamePolicy::build(kPasswd, {}, {});
  for (const char* name : {"root", "ROOT", "Root", "toor", "zeroes", "0", "00", "000"}) {
    EXPECT_STREQ(p.refusal(name), "privileged_local_name") << name;
  }
  for (const char* name :
       {"alice", "daemon", "uidzero-gid-only", "root2", "roo", "0x0", "10", ""}) {
    EXPECT_EQ(p.refusal(name), nullptr) << name;
  }
}

TEST(LocalNamePolicy, RootIsRefusedWithoutAPasswdFile) {
  const auto p = LocalNamePolicy::build("", {}, {});
  EXPECT_STREQ(p.refusal("root"), "privileged_local_name");
  EXPECT_STREQ(p.refusal("0"), "privileged_local_name");
  EXPECT_EQ(p.refusal("toor"), nullptr);
}

TEST(LocalNamePolicy, AllowPrivilegedNamesExceptions) {
  const auto p = LocalNamePolicy::build(kPasswd, {}, {"Root", "0"});
  EXPECT_EQ(p.refusal("root"), nullptr);
  EXPECT_EQ(p.refusal("0"), nullptr);
  EXPECT_STREQ(p.refusal("toor"), "privileged_local_name");  // only the names listed
  EXPECT_STREQ(p.refusal("00"), "privileged_local_name");
}

TEST(LocalNamePolicy, RefuseAddsNamesAndWinsOverAllow) {
  const auto p = LocalNamePolicy::build("", {"postgres", "ROOT"}, {"root"});
  EXPECT_STREQ(p.refusal("postgres"), "refused_local_name");
  EXPECT_STREQ(p.refusal("Postgres"), "refused_local_name");
  EXPECT_STREQ(p.refusal("root"), "refused_local_name");
  EXPECT_EQ(p.refusal("alice"), nullptr);
}

}  // namespace
}  // namespace gssgate::proxy

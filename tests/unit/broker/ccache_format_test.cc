#include "broker/credentials/ccache_format.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>  // mkdtemp
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/krb5_handles.h"
#include "common/krb5_thread_context.h"
#include "tests/unit/broker/test_credentials.h"

namespace gssgate::broker {
namespace {

using test::CredentialSpec;
using test::TestCreds;

// What MIT's FILE ccache code reads back from a file.
struct ReadBack {
  std::string default_principal;
  std::vector<std::string> servers;
  std::vector<std::string> tickets;
  std::vector<krb5_timestamp> endtimes;
};

class CcacheFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(ctx(), nullptr);
    std::string tmpl = (std::filesystem::temp_directory_path() / "gssgate-ccache-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  static krb5_context ctx() { return threadKrb5Context(); }

  std::string writeFile(const std::string& bytes) {
    std::string path = (dir_ / "ccache").string();
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    return path;
  }

  // Reads the FILE ccache at `path` with krb5_cc_resolve and a cursor.
  static ReadBack readBack(const std::string& path) {
    ReadBack out;
    Krb5Ccache cc(ctx());
    const std::string name = "FILE:" + path;
    EXPECT_EQ(krb5_cc_resolve(ctx(), name.c_str(), cc.out()), 0);
    Krb5Principal principal(ctx());
    krb5_error_code code = krb5_cc_get_principal(ctx(), cc.get(), principal.out());
    EXPECT_EQ(code, 0) << krb5ErrorMessage(ctx(), code);
    if (code != 0) return out;
    out.default_principal = unparse(principal.get());
    krb5_cc_cursor cursor = nullptr;
    code = krb5_cc_start_seq_get(ctx(), cc.get(), &cursor);
    EXPECT_EQ(code, 0) << krb5ErrorMessage(ctx(), code);
    if (code != 0) return out;
    krb5_creds creds;
    while ((code = krb5_cc_next_cred(ctx(), cc.get(), &cursor, &creds)) == 0) {
      out.servers.push_back(unparse(creds.server));
      out.tickets.emplace_back(creds.ticket.data, creds.ticket.length);
      out.endtimes.push_back(creds.times.endtime);
      krb5_free_cred_contents(ctx(), &creds);
    }
    EXPECT_EQ(code, KRB5_CC_END) << krb5ErrorMessage(ctx(), code);
    krb5_cc_end_seq_get(ctx(), cc.get(), &cursor);
    return out;
  }

  static std::string unparse(krb5_const_principal p) {
    Krb5String name(ctx());
    EXPECT_EQ(krb5_unparse_name(ctx(), p, name.out()), 0);
    return name ? std::string(name.get()) : std::string();
  }

  std::filesystem::path dir_;
};

TEST_F(CcacheFormatTest, FileCcacheHoldsTheClientAndExactlyTheGivenCredentials) {
  CredentialSpec tgtSpec;
  TestCreds tgt(ctx(), tgtSpec);
  CredentialSpec svcSpec;
  svcSpec.server = "HTTP/web.test.realm@TEST.REALM";
  svcSpec.ticket = test::derTicket("TEST.REALM", {"HTTP", "web.test.realm"});
  svcSpec.endtime = test::nowSeconds() + 600;
  TestCreds svc(ctx(), svcSpec);

  auto bytes = serializeCcache(ctx(), tgt.get()->client, {svc.get(), tgt.get()});
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  ASSERT_GE(bytes->size(), 4U);
  EXPECT_EQ(bytes->str().substr(0, 4), std::string("\x05\x04\x00\x00", 4));  // v4, no header

  const ReadBack back = readBack(writeFile(bytes->str()));
  EXPECT_EQ(back.default_principal, "alice@TEST.REALM");
  ASSERT_EQ(back.servers.size(), 2U);
  EXPECT_EQ(back.servers[0], "HTTP/web.test.realm@TEST.REALM");
  EXPECT_EQ(back.servers[1], "krbtgt/TEST.REALM@TEST.REALM");
  EXPECT_EQ(back.tickets[0], svcSpec.ticket);
  EXPECT_EQ(back.tickets[1], tgtSpec.ticket);
  EXPECT_EQ(back.endtimes[0], static_cast<krb5_timestamp>(svcSpec.endtime));
}

TEST_F(CcacheFormatTest, OneServiceTicketOnly) {
  CredentialSpec svcSpec;
  svcSpec.server = "postgres/db.test.realm@TEST.REALM";
  svcSpec.ticket = test::derTicket("TEST.REALM", {"postgres", "db.test.realm"});
  TestCreds svc(ctx(), svcSpec);

  auto bytes = serializeCcache(ctx(), svc.get()->client, {svc.get()});
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const ReadBack back = readBack(writeFile(bytes->str()));
  EXPECT_EQ(back.default_principal, "alice@TEST.REALM");
  ASSERT_EQ(back.servers.size(), 1U);
  EXPECT_EQ(back.servers[0], "postgres/db.test.realm@TEST.REALM");
}

TEST_F(CcacheFormatTest, NoCredentialsGivesAnInitialisedEmptyCache) {
  TestCreds tgt(ctx(), CredentialSpec{});
  auto bytes = serializeCcache(ctx(), tgt.get()->client, {});
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const ReadBack back = readBack(writeFile(bytes->str()));
  EXPECT_EQ(back.default_principal, "alice@TEST.REALM");
  EXPECT_TRUE(back.servers.empty());
}

TEST_F(CcacheFormatTest, MultiComponentClientPrincipalSurvives) {
  CredentialSpec spec;
  spec.client = "alice/admin@TEST.REALM";
  TestCreds tgt(ctx(), spec);
  auto bytes = serializeCcache(ctx(), tgt.get()->client, {tgt.get()});
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const ReadBack back = readBack(writeFile(bytes->str()));
  EXPECT_EQ(back.default_principal, "alice/admin@TEST.REALM");
  ASSERT_EQ(back.servers.size(), 1U);
  EXPECT_EQ(back.servers[0], "krbtgt/TEST.REALM@TEST.REALM");
}

}  // namespace
}  // namespace gssgate::broker

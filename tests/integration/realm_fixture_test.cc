// The test realm works end to end with plain GSS-API: a user's TGT (kinit with the realm's
// environment) gets a service ticket for HTTP@localhost, and an acceptor holding only the
// keytab accepts it and names the user.
#include "tests/realm/realm_fixture.h"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "common/gss_error.h"
#include "common/gss_handles.h"

namespace gssgate {
namespace {

using test::TestRealm;

class RealmFixtureTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    realm_ = TestRealm::start({"alice", "bob"}, {"HTTP/localhost"}).release();
    if (realm_ != nullptr) realm_->exportEnv();
  }
  static void TearDownTestSuite() {
    delete realm_;
    realm_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(realm_, nullptr) << TestRealm::lastError(); }

  static TestRealm* realm_;
};
TestRealm* RealmFixtureTest::realm_ = nullptr;

// kinit through /usr/bin/kinit with the realm's environment (not through the helper CLI).
std::string kinitWithEnv(const TestRealm& realm, const std::string& user) {
  std::string ccache = realm.dir() + "/" + user + "-direct.ccache";
  std::map<std::string, std::string> env;
  for (const auto& kv : realm.envStrings(ccache)) {
    auto eq = kv.find('=');
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  std::string out;
  int rc = test::runCommand({"/usr/bin/kinit", user}, env, &out, TestRealm::password(user) + "\n");
  EXPECT_EQ(rc, 0) << out;
  return rc == 0 ? ccache : "";
}

GssCred acquire(gss_cred_usage_t usage, const char* key, const std::string& value) {
  gss_key_value_element_desc element{key, value.c_str()};
  gss_key_value_set_desc store{1, &element};
  GssCred cred;
  OM_uint32 minor = 0;
  OM_uint32 major = gss_acquire_cred_from(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, GSS_C_NO_OID_SET,
                                          usage, &store, cred.out(), nullptr, nullptr);
  EXPECT_FALSE(GSS_ERROR(major)) << key << "=" << value << ": " << gssErrorMessage(major, minor);
  return cred;
}

GssName hostService(const std::string& service) {
  gss_buffer_desc buf = gssInputBuffer(service);
  GssName name;
  OM_uint32 minor = 0;
  OM_uint32 major = gss_import_name(&minor, &buf, GSS_C_NT_HOSTBASED_SERVICE, name.out());
  EXPECT_FALSE(GSS_ERROR(major)) << gssErrorMessage(major, minor);
  return name;
}

std::string displayName(gss_name_t name) {
  OM_uint32 minor = 0;
  GssBuffer out;
  OM_uint32 major = gss_display_name(&minor, name, out.out(), nullptr);
  EXPECT_FALSE(GSS_ERROR(major)) << gssErrorMessage(major, minor);
  return out.str();
}

TEST_F(RealmFixtureTest, EnvironmentPointsIntoRealmDir) {
  const auto& env = realm_->env();
  for (const char* key : {"KRB5_CONFIG", "KRB5_KDC_PROFILE", "KRB5CCNAME", "KRB5RCACHEDIR"}) {
    ASSERT_TRUE(env.count(key)) << key;
    EXPECT_NE(env.at(key).find(realm_->dir()), std::string::npos) << key << "=" << env.at(key);
  }
  EXPECT_EQ(access(realm_->keytab("HTTP/localhost").c_str(), R_OK), 0);
}

TEST_F(RealmFixtureTest, UserTicketIsAcceptedWithKeytab) {
  std::string ccache = kinitWithEnv(*realm_, "alice");
  ASSERT_FALSE(ccache.empty());

  GssCred initiator = acquire(GSS_C_INITIATE, "ccache", "FILE:" + ccache);
  GssCred acceptor = acquire(GSS_C_ACCEPT, "keytab", realm_->keytab("HTTP/localhost"));
  ASSERT_TRUE(initiator);
  ASSERT_TRUE(acceptor);
  GssName target = hostService("HTTP@localhost");

  OM_uint32 minor = 0;
  GssContext initCtx;
  GssBuffer token;
  OM_uint32 major = gss_init_sec_context(&minor, initiator.get(), initCtx.out(), target.get(),
                                         const_cast<gss_OID>(gss_mech_krb5), GSS_C_MUTUAL_FLAG,
                                         GSS_C_INDEFINITE, GSS_C_NO_CHANNEL_BINDINGS,
                                         GSS_C_NO_BUFFER, nullptr, token.out(), nullptr, nullptr);
  ASSERT_FALSE(GSS_ERROR(major)) << gssErrorMessage(major, minor);
  ASSERT_FALSE(token.empty());

  GssContext acceptCtx;
  GssName source;
  GssBuffer reply;
  gss_buffer_desc in{token.size(), const_cast<char*>(token.view().data())};
  major = gss_accept_sec_context(&minor, acceptCtx.out(), acceptor.get(), &in,
                                 GSS_C_NO_CHANNEL_BINDINGS, source.out(), nullptr, reply.out(),
                                 nullptr, nullptr, nullptr);
  ASSERT_EQ(major, static_cast<OM_uint32>(GSS_S_COMPLETE)) << gssErrorMessage(major, minor);
  EXPECT_EQ(displayName(source.get()), "alice@GSSGATE.TEST");

  // auth_to_local DEFAULT for the realm maps the principal to the local name "alice".
  GssBuffer local;
  major = gss_localname(&minor, source.get(), GSS_C_NO_OID, local.out());
  ASSERT_FALSE(GSS_ERROR(major)) << gssErrorMessage(major, minor);
  EXPECT_EQ(local.str(), "alice");

  // Mutual authentication completes on the client side.
  ASSERT_FALSE(reply.empty());
  gss_buffer_desc back{reply.size(), const_cast<char*>(reply.view().data())};
  GssBuffer none;
  gss_ctx_id_t raw = initCtx.release();
  major =
      gss_init_sec_context(&minor, initiator.get(), &raw, target.get(),
                           const_cast<gss_OID>(gss_mech_krb5), GSS_C_MUTUAL_FLAG, GSS_C_INDEFINITE,
                           GSS_C_NO_CHANNEL_BINDINGS, &back, nullptr, none.out(), nullptr, nullptr);
  initCtx = GssContext(raw);
  EXPECT_EQ(major, static_cast<OM_uint32>(GSS_S_COMPLETE)) << gssErrorMessage(major, minor);

  // The same token a second time is a replay.
  GssContext replayCtx;
  major = gss_accept_sec_context(&minor, replayCtx.out(), acceptor.get(), &in,
                                 GSS_C_NO_CHANNEL_BINDINGS, nullptr, nullptr, reply.out(), nullptr,
                                 nullptr, nullptr);
  EXPECT_TRUE(GSS_ERROR(major)) << "replayed token was accepted";
}

TEST_F(RealmFixtureTest, TicketForUnknownServiceFails) {
  std::string ccache = realm_->kinit("bob");
  ASSERT_FALSE(ccache.empty()) << TestRealm::lastError();
  GssCred initiator = acquire(GSS_C_INITIATE, "ccache", "FILE:" + ccache);
  GssName target = hostService("HTTP@not-in-the-realm.example");
  OM_uint32 minor = 0;
  GssContext ctx;
  GssBuffer token;
  OM_uint32 major = gss_init_sec_context(&minor, initiator.get(), ctx.out(), target.get(),
                                         const_cast<gss_OID>(gss_mech_krb5), GSS_C_MUTUAL_FLAG,
                                         GSS_C_INDEFINITE, GSS_C_NO_CHANNEL_BINDINGS,
                                         GSS_C_NO_BUFFER, nullptr, token.out(), nullptr, nullptr);
  EXPECT_TRUE(GSS_ERROR(major));
}

}  // namespace
}  // namespace gssgate

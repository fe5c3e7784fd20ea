#include "common/gss_handles.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>

#include "tests/unit/common/hermetic_krb5.h"

namespace gssgate {
namespace {

constexpr std::string_view kService = "HTTP@www.example.com";

class GssHandlesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { testing::useHermeticKrb5(); }

  // Imports `text` as a host-based service name into `name`.
  static void importService(GssName& name, std::string_view text = kService) {
    OM_uint32 minor = 0;
    gss_buffer_desc buf = gssInputBuffer(text);
    const OM_uint32 major = gss_import_name(&minor, &buf, GSS_C_NT_HOSTBASED_SERVICE, name.out());
    ASSERT_EQ(major, GSS_S_COMPLETE);
    ASSERT_TRUE(name);
  }

  // The display form of `name`, through a GssBuffer.
  static std::string display(const GssName& name) {
    OM_uint32 minor = 0;
    GssBuffer out;
    if (gss_display_name(&minor, name.get(), out.out(), nullptr) != GSS_S_COMPLETE) return "?";
    return out.str();
  }
};

TEST_F(GssHandlesTest, StartsEmpty) {
  const GssName name;
  const GssCred cred;
  const GssContext ctx;
  const GssOidSet set;
  EXPECT_FALSE(name);
  EXPECT_EQ(name.get(), GSS_C_NO_NAME);
  EXPECT_EQ(cred.get(), GSS_C_NO_CREDENTIAL);
  EXPECT_EQ(ctx.get(), GSS_C_NO_CONTEXT);
  EXPECT_EQ(set.get(), GSS_C_NO_OID_SET);
}

TEST_F(GssHandlesTest, OwnsAnImportedName) {
  GssName name;
  importService(name);
  EXPECT_EQ(display(name), kService);
}

TEST_F(GssHandlesTest, MoveConstructionTransfersOwnership) {
  GssName a;
  importService(a);
  gss_name_t raw = a.get();
  GssName b(std::move(a));
  EXPECT_FALSE(a);
  EXPECT_EQ(a.get(), GSS_C_NO_NAME);
  EXPECT_TRUE(b);
  EXPECT_EQ(b.get(), raw);
  EXPECT_EQ(display(b), kService);
}

TEST_F(GssHandlesTest, MoveAssignmentReleasesTheOldHandleAndTakesTheNew) {
  GssName a;
  GssName b;
  importService(a, "HTTP@a.example.com");
  importService(b, "HTTP@b.example.com");
  gss_name_t rawB = b.get();
  a = std::move(b);  // a's old name is released here (LeakSanitizer would report it otherwise)
  EXPECT_EQ(a.get(), rawB);
  EXPECT_EQ(display(a), "HTTP@b.example.com");
  EXPECT_FALSE(b);
}

TEST_F(GssHandlesTest, SelfMoveAssignmentKeepsTheHandle) {
  GssName a;
  importService(a);
  GssName& alias = a;
  a = std::move(alias);
  EXPECT_TRUE(a);
  EXPECT_EQ(display(a), kService);
}

TEST_F(GssHandlesTest, ReleaseGivesUpOwnership) {
  GssName a;
  importService(a);
  gss_name_t raw = a.get();
  const GssName b(a.release());  // ownership passes back into an owner, so nothing leaks
  EXPECT_FALSE(a);
  EXPECT_EQ(b.get(), raw);
}

TEST_F(GssHandlesTest, ResetAndOutReleaseTheCurrentHandle) {
  GssName a;
  importService(a, "HTTP@first.example.com");
  importService(a, "HTTP@second.example.com");  // out() releases the first name
  EXPECT_EQ(display(a), "HTTP@second.example.com");
  a.reset();
  EXPECT_FALSE(a);
  a.reset();  // idempotent
  EXPECT_FALSE(a);
}

TEST_F(GssHandlesTest, ReleasedOnScopeExit) {
  // Run under ASan/LSan (GSSGATE_SANITIZE=asan): a handle not released here is reported as a
  // leak. Without a sanitizer this checks that destruction of full and empty owners is safe.
  for (int i = 0; i < 100; ++i) {
    GssName name;
    importService(name);
    GssName moved(std::move(name));
  }
  SUCCEED();
}

TEST_F(GssHandlesTest, OidSetOwner) {
  OM_uint32 minor = 0;
  GssOidSet set;
  ASSERT_EQ(gss_create_empty_oid_set(&minor, set.out()), GSS_S_COMPLETE);
  ASSERT_TRUE(set);
  ASSERT_EQ(gss_add_oid_set_member(&minor, gss_mech_krb5, set.inout()), GSS_S_COMPLETE);
  EXPECT_EQ(set.get()->count, 1U);
  GssOidSet moved(std::move(set));
  EXPECT_FALSE(set);
  ASSERT_TRUE(moved);
  int present = 0;
  ASSERT_EQ(gss_test_oid_set_member(&minor, gss_mech_krb5, moved.get(), &present), GSS_S_COMPLETE);
  EXPECT_NE(present, 0);
}

TEST_F(GssHandlesTest, FailedCredentialAcquisitionLeavesTheOwnerEmpty) {
  // The default ccache is an empty MEMORY cache, so there is nothing to acquire.
  OM_uint32 minor = 0;
  GssCred cred;
  const OM_uint32 major =
      gss_acquire_cred(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, GSS_C_NO_OID_SET, GSS_C_INITIATE,
                       cred.out(), nullptr, nullptr);
  EXPECT_TRUE(GSS_ERROR(major));
  EXPECT_FALSE(cred);
}

TEST_F(GssHandlesTest, BufferOwnsLibraryOutput) {
  GssName name;
  importService(name);
  OM_uint32 minor = 0;
  GssBuffer buf;
  EXPECT_TRUE(buf.empty());
  EXPECT_EQ(buf.view(), "");
  ASSERT_EQ(gss_display_name(&minor, name.get(), buf.out(), nullptr), GSS_S_COMPLETE);
  EXPECT_EQ(buf.view(), kService);
  EXPECT_EQ(buf.size(), kService.size());
  EXPECT_EQ(buf.str(), std::string(kService));

  GssBuffer moved(std::move(buf));
  EXPECT_TRUE(buf.empty());
  EXPECT_EQ(buf.view(), "");
  EXPECT_EQ(moved.view(), kService);

  GssBuffer assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.view(), kService);
  EXPECT_TRUE(moved.empty());
  assigned.reset();
  EXPECT_TRUE(assigned.empty());
}

TEST_F(GssHandlesTest, InputBufferPointsAtCallerMemory) {
  const std::string token = "\x60\x82token";
  const gss_buffer_desc buf = gssInputBuffer(token);
  EXPECT_EQ(buf.length, token.size());
  EXPECT_EQ(buf.value, static_cast<const void*>(token.data()));
  const gss_buffer_desc empty = gssInputBuffer({});
  EXPECT_EQ(empty.length, 0U);
}

}  // namespace
}  // namespace gssgate

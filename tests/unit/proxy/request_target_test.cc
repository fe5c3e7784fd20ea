#include "proxy/server/request_target.h"

#include <gtest/gtest.h>

#include <string>

namespace gssgate::proxy {
namespace {

using std::string_literals::operator""s;

// The normalised target, or "(refused)".
std::string norm(std::string_view target) {
  auto t = normalizeTarget(target);
  return t ? *t : "(refused)";
}

constexpr const char* kRefused = "(refused)";

TEST(NormalizeTarget, PlainTargetsAreUnchanged) {
  for (const char* t : {"/", "/a", "/a/b/c", "/a/b/", "/a/b?x=1", "/a?", "/~user/file.txt",
                        "/a-b_c.d~e", "/...", "/a/.../b", "/.well-known/x", "/a./b", "/.a", "/a..",
                        "/a/..b", "/a/b.", "/a:b@c!$&'()*+,;=", "/%20", "/caf\xc3\xa9"}) {
    EXPECT_EQ(norm(t), t) << t;
  }
}

TEST(NormalizeTarget, OnlyOriginForm) {
  for (const char* t : {"", "*", "a/b", "http://example.com/", "?x=1", " /", "example.com:80"}) {
    EXPECT_EQ(norm(t), kRefused) << "'" << t << "'";
  }
  // "//example.com" is an origin-form path (not authority-form): its slashes collapse.
  EXPECT_EQ(norm("//example.com"), "/example.com");
}

TEST(NormalizeTarget, DotSegmentsAreRefused) {
  for (const char* t :
       {"/.", "/..", "/./", "/../", "/a/.", "/a/..", "/a/./b", "/a/../b", "/../etc/passwd",
        "/public/../admin", "/a/b/../../c", "/a/.?x", "/a/..?x=1", "/.//", "//..//x",
        // encoded dots, any case
        "/%2e", "/%2E", "/%2e%2e", "/%2E%2E", "/%2e%2E", "/.%2e", "/%2e.", "/a/%2e%2e/b",
        "/public/%2e%2e/admin", "/a/%2e/b", "/a/%2E%2e?x", "/%2e%2e/"}) {
    EXPECT_EQ(norm(t), kRefused) << t;
  }
}

TEST(NormalizeTarget, EncodedSlashBackslashNulAndControlsAreRefused) {
  for (const char* t : {"/a%2fb", "/a%2Fb", "/%2F", "/public%2F..%2Fadmin", "/a%5cb", "/a%5Cb",
                        "/%5C..%5Cx", "/a%00b", "/%00", "/a%0a", "/a%0D%0Ab", "/a%09", "/a%1f",
                        "/a%1F", "/a%7f", "/a%7F", "/a%01"}) {
    EXPECT_EQ(norm(t), kRefused) << t;
  }
}

TEST(NormalizeTarget, RawBackslashHashSpaceAndControlBytesAreRefused) {
  for (const std::string& t :
       {"/a\\b"s, "/\\"s, "/a#frag"s, "/#"s, "/a b"s, "/a\tb"s, "/a\x01"s, "/a\x7f"s,
        "/a\x00"s
        "b"s,
        "/a\rb"s, "/a\nb"s, "/a\x1b[31m"s}) {
    EXPECT_EQ(norm(t), kRefused) << t;
  }
}

TEST(NormalizeTarget, RunsOfSlashesCollapse) {
  EXPECT_EQ(norm("//"), "/");
  EXPECT_EQ(norm("///"), "/");
  EXPECT_EQ(norm("//a///b//"), "/a/b/");
  EXPECT_EQ(norm("/a//b"), "/a/b");
  EXPECT_EQ(norm("/app//admin"), "/app/admin");
  // ...in the path only.
  EXPECT_EQ(norm("/a//b?next=//evil//x"), "/a/b?next=//evil//x");
}

TEST(NormalizeTarget, UnreservedEscapesAreDecoded) {
  EXPECT_EQ(norm("/%61dmin"), "/admin");
  EXPECT_EQ(norm("/%61%64%6D%69%6e"), "/admin");
  EXPECT_EQ(norm("/%41%5A%30%39%2D%2d%2E%5F%5f%7E%7e"), "/AZ09--.__~~");
  EXPECT_EQ(norm("/app%2fx"), kRefused);
  EXPECT_EQ(norm("/%2e%2e%2e"), "/...");
  EXPECT_EQ(norm("/%2ewell-known"), "/.well-known");
  // Decoding happens once: "%2561" is "%25" (kept) followed by "61".
  EXPECT_EQ(norm("/%2561dmin"), "/%2561dmin");
}

TEST(NormalizeTarget, ReservedAndOtherEscapesAreKeptAsIs) {
  EXPECT_EQ(norm("/a%3Fb"), "/a%3Fb");  // an encoded '?' does not start a query
  EXPECT_EQ(norm("/a%3fb"), "/a%3fb");  // case kept
  EXPECT_EQ(norm("/a%23b"), "/a%23b");  // '#'
  EXPECT_EQ(norm("/a%25b"), "/a%25b");  // '%'
  EXPECT_EQ(norm("/a%20b"), "/a%20b");  // space
  EXPECT_EQ(norm("/a%3Bb"), "/a%3Bb");  // ';'
  EXPECT_EQ(norm("/a%40b%3A"), "/a%40b%3A");
  EXPECT_EQ(norm("/caf%C3%A9"), "/caf%C3%A9");
  EXPECT_EQ(norm("/%FF%80"), "/%FF%80");
  EXPECT_EQ(norm("/%41%3F%42"), "/A%3FB");
}

TEST(NormalizeTarget, QueryIsKeptByteForByte) {
  const std::string q = "?a=%61&b=%2F&c=..%2e/../&d=%zz&e=%&f=\\&g=%00&h=//&i=%2e%2e&j=?k";
  EXPECT_EQ(norm("/p" + q), "/p" + q);
  EXPECT_EQ(norm("/%61/p" + q), "/a/p" + q);
  EXPECT_EQ(norm("/?"), "/?");
  EXPECT_EQ(norm("/??"), "/??");
  EXPECT_EQ(norm("/p?caf\xc3\xa9"), "/p?caf\xc3\xa9");
  // Raw control bytes and '#' are refused in the query too.
  EXPECT_EQ(norm("/p?a=\x01"), kRefused);
  EXPECT_EQ(norm("/p?a=\x7f"), kRefused);
  EXPECT_EQ(norm("/p?a\r\nX-Injected: 1"), kRefused);
  EXPECT_EQ(norm("/p?a#frag"), kRefused);
}

TEST(NormalizeTarget, InvalidEscapesAreRefused) {
  for (const char* t : {"/%", "/a%", "/%4", "/a%4", "/%zz", "/%g1", "/%1g", "/%%41", "/%-1", "/% 1",
                        "/%4?x=1", "/a%?x", "/%+1", "/%x41"}) {
    EXPECT_EQ(norm(t), kRefused) << t;
  }
}

TEST(NormalizeTarget, IsIdempotent) {
  for (const char* t : {"/", "//a//%61%3F?q=%2e%2e//", "/%41%25%7e", "/a/.../b?x", "/caf%C3%A9",
                        "/%2561", "/x%20y/"}) {
    auto once = normalizeTarget(t);
    ASSERT_TRUE(once.has_value()) << t;
    EXPECT_EQ(normalizeTarget(*once), once) << t;
  }
}

TEST(PathOf, EverythingBeforeTheFirstQuestionMark) {
  EXPECT_EQ(pathOf("/a/b?x=1"), "/a/b");
  EXPECT_EQ(pathOf("/a/b"), "/a/b");
  EXPECT_EQ(pathOf("/a?b?c"), "/a");
  EXPECT_EQ(pathOf("/?"), "/");
  EXPECT_EQ(pathOf("?x"), "");
  EXPECT_EQ(pathOf(""), "");
  EXPECT_EQ(pathOf("/a%3Fb?c"), "/a%3Fb");
}

TEST(RoutePathOf, DropsPathParametersFromEverySegment) {
  EXPECT_EQ(routePathOf("/admin;jsessionid=x"), "/admin");
  EXPECT_EQ(routePathOf("/a;x/b;y=1/c?q=;z"), "/a/b/c");
  EXPECT_EQ(routePathOf("/plain/path?x"), "/plain/path");
  EXPECT_EQ(routePathOf("/;x"), "/");
}

TEST(NormalizeTarget, RefusesDotSegmentsHiddenBehindPathParameters) {
  EXPECT_FALSE(normalizeTarget("/public/..;/admin"));
  EXPECT_FALSE(normalizeTarget("/public/.;x/admin"));
  EXPECT_FALSE(normalizeTarget("/public/%2e%2e;x/admin"));
  EXPECT_TRUE(normalizeTarget("/public/..x;/admin"));
}

}  // namespace
}  // namespace gssgate::proxy

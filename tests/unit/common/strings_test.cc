#include "common/strings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace gssgate {
namespace {

using ::testing::ElementsAre;
using namespace std::string_literals;  // NOLINT(google-build-using-namespace)

TEST(StrCat, FormatsEachArgumentInOrder) {
  EXPECT_EQ(strCat(), "");
  EXPECT_EQ(strCat("a"), "a");
  EXPECT_EQ(strCat("file", ":", 12, ": ", std::string_view("sv"), ' ', std::string("str")),
            "file:12: sv str");
  EXPECT_EQ(strCat(uint64_t{18446744073709551615U}, "/", int64_t{-5}), "18446744073709551615/-5");
  EXPECT_EQ(strCat("nul:", "a\0b"s), "nul:a\0b"s);
}

TEST(TrimAscii, RemovesSpaceTabCrLfAtBothEnds) {
  EXPECT_EQ(trimAscii("  x "), "x");
  EXPECT_EQ(trimAscii("\t\r\n x y \n"), "x y");
  EXPECT_EQ(trimAscii(""), "");
  EXPECT_EQ(trimAscii(" \t\r\n"), "");
  EXPECT_EQ(trimAscii("x"), "x");
  // Only those four: vertical tab, form feed and non-ASCII spaces are kept.
  EXPECT_EQ(trimAscii("\vx\f"), "\vx\f");
  EXPECT_EQ(trimAscii("\xc2\xa0x"), "\xc2\xa0x");
}

TEST(TrimAscii, ReturnsAViewIntoTheInput) {
  const std::string s = "  abc  ";
  const std::string_view t = trimAscii(s);
  EXPECT_EQ(t.data(), s.data() + 2);
  EXPECT_EQ(t.size(), 3U);
}

TEST(ToLowerAscii, LowersOnlyAsciiLetters) {
  EXPECT_EQ(toLowerAscii("MiB"), "mib");
  EXPECT_EQ(toLowerAscii("HTTP/1.1 @Z[`"), "http/1.1 @z[`");
  EXPECT_EQ(toLowerAscii(""), "");
  // UTF-8 "É" is left as it is (bytes are not ASCII letters).
  EXPECT_EQ(toLowerAscii("\xc3\x89X"), "\xc3\x89x");
}

TEST(EqualsIgnoreCase, ComparesAsciiCaseInsensitively) {
  EXPECT_TRUE(equalsIgnoreCase("Negotiate", "negotiate"));
  EXPECT_TRUE(equalsIgnoreCase("NEGOTIATE", "nEgOtIaTe"));
  EXPECT_TRUE(equalsIgnoreCase("", ""));
  EXPECT_FALSE(equalsIgnoreCase("Negotiate", "Negotiat"));
  EXPECT_FALSE(equalsIgnoreCase("Negotiate", "Negotiatf"));
  // '@' (0x40) and '`' (0x60) differ by the case bit but are not letters.
  EXPECT_FALSE(equalsIgnoreCase("@", "`"));
  EXPECT_FALSE(equalsIgnoreCase("[", "{"));
  EXPECT_FALSE(equalsIgnoreCase("\xc3\x89", "\xc3\xa9"));  // É vs é: not folded
}

TEST(Join, JoinsWithSeparator) {
  EXPECT_EQ(join({}, ", "), "");
  EXPECT_EQ(join({"a"}, ", "), "a");
  EXPECT_EQ(join({"a", "b", "c"}, ", "), "a, b, c");
  EXPECT_EQ(join({"", ""}, "|"), "|");
  EXPECT_EQ(join({"x", "y"}, ""), "xy");
}

TEST(SplitTrimmed, SplitsTrimsAndKeepsEmptyParts) {
  EXPECT_THAT(splitTrimmed("a, b ,c", ','), ElementsAre("a", "b", "c"));
  EXPECT_THAT(splitTrimmed("", ','), ElementsAre(""));
  EXPECT_THAT(splitTrimmed(",", ','), ElementsAre("", ""));
  EXPECT_THAT(splitTrimmed(" a ,, ", ','), ElementsAre("a", "", ""));
  EXPECT_THAT(splitTrimmed("no separator", ','), ElementsAre("no separator"));
  EXPECT_THAT(splitTrimmed("k=v;x=y", ';'), ElementsAre("k=v", "x=y"));
}

TEST(MessageOf, CopiesTheStatusMessage) {
  EXPECT_EQ(messageOf(absl::InvalidArgumentError("bad key")), "bad key");
  EXPECT_EQ(messageOf(absl::OkStatus()), "");
}

}  // namespace
}  // namespace gssgate

#include "common/base64.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gssgate {
namespace {

using namespace std::string_literals;  // NOLINT(google-build-using-namespace)

// RFC 4648 §10 test vectors: input, base64, base64url without padding.
struct Vector {
  std::string_view plain;
  std::string_view std;
  std::string_view url;
};
constexpr std::array<Vector, 7> kRfc4648Vectors = {{
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
}};

TEST(Base64, EncodesRfc4648Vectors) {
  for (const auto& v : kRfc4648Vectors) {
    EXPECT_EQ(base64Encode(v.plain), v.std) << v.plain;
    EXPECT_EQ(base64UrlEncode(v.plain), v.url) << v.plain;
  }
}

TEST(Base64, DecodesRfc4648Vectors) {
  for (const auto& v : kRfc4648Vectors) {
    EXPECT_EQ(base64Decode(v.std), std::string(v.plain)) << v.std;
    EXPECT_EQ(base64UrlDecode(v.url), std::string(v.plain)) << v.url;
  }
}

TEST(Base64, AlphabetsDifferOnlyInLastTwoCharacters) {
  // 0xfb 0xff 0xbf gives sextets 62 and 63 in both positions.
  const std::string bytes = "\xfb\xff\xbf"s;
  EXPECT_EQ(base64Encode(bytes), "+/+/");
  EXPECT_EQ(base64UrlEncode(bytes), "-_-_");
  EXPECT_EQ(base64Decode("+/+/"), bytes);
  EXPECT_EQ(base64UrlDecode("-_-_"), bytes);
  EXPECT_EQ(base64Encode("\xff\xff\xff"s), "////");
  EXPECT_EQ(base64UrlEncode("\xff\xff\xff"s), "____");
  // Each decoder rejects the other's two characters.
  EXPECT_FALSE(base64Decode("-_-_"));
  EXPECT_FALSE(base64UrlDecode("+/+/"));
}

TEST(Base64, RoundTripsEveryByteValueAndLength) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  // A fixed seed on purpose: the test must be deterministic.
  std::mt19937 rng(4648);  // NOLINT(cert-msc32-c,cert-msc51-cpp)
  for (size_t len = 0; len <= all.size(); ++len) {
    std::string bytes = all.substr(0, len);
    std::shuffle(bytes.begin(), bytes.end(), rng);
    EXPECT_EQ(base64Decode(base64Encode(bytes)), bytes) << "len " << len;
    EXPECT_EQ(base64UrlDecode(base64UrlEncode(bytes)), bytes) << "len " << len;
    EXPECT_EQ(base64Encode(bytes).size(), (len + 2) / 3 * 4);
    EXPECT_EQ(base64UrlEncode(bytes).size(), (len * 4 + 2) / 3);
  }
}

TEST(Base64, DecodesEmbeddedNulBytes) {
  EXPECT_EQ(base64Decode("AAAA"), "\0\0\0"s);
  EXPECT_EQ(base64Encode("a\0b"s), "YQBi");
  EXPECT_EQ(base64Decode("YQBi"), "a\0b"s);
}

TEST(Base64, RejectsCharactersOutsideTheAlphabet) {
  for (std::string_view bad : {"Zm9v!A==", "Zm9v*mFy", "Zm9vYmF.", "Zm9vYmF\x80"}) {
    EXPECT_FALSE(base64Decode(bad)) << bad;
  }
  EXPECT_FALSE(base64Decode("Zm\0v"s));
  EXPECT_FALSE(base64UrlDecode("Zm\0v"s));
  EXPECT_FALSE(base64UrlDecode("Zm9v!A"));
}

TEST(Base64, RejectsAnInvalidCharacterAtAnyPosition) {
  // The decoder checks a group of four at a time: every position of every group must count.
  std::string bytes(1100, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 37 + 11);
  for (const size_t len : {bytes.size(), bytes.size() - 1, bytes.size() - 2}) {
    const std::string text = base64Encode(std::string_view(bytes).substr(0, len));
    ASSERT_EQ(base64Decode(text), bytes.substr(0, len));
    const size_t data_chars = text.find('=') == std::string::npos ? text.size() : text.find('=');
    for (size_t pos = 0; pos < data_chars; ++pos) {
      for (const char bad : {'!', '\0', '\x80', '\xff', '-', '_'}) {
        std::string broken = text;
        broken[pos] = bad;
        ASSERT_FALSE(base64Decode(broken)) << "len " << len << " pos " << pos;
      }
    }
  }
}

TEST(Base64, RejectsWhitespace) {
  for (std::string_view bad : {"Zm9v\n", "Zm9v YmFy", " Zm9v", "Zm9v ", "Zm9v\r\n", "Zm\t9v",
                               "Zm9vYmFy\n", "Zm9v\nYmFy"}) {
    EXPECT_FALSE(base64Decode(bad)) << bad;
    EXPECT_FALSE(base64UrlDecode(bad)) << bad;
  }
}

TEST(Base64, RejectsWrongLength) {
  // Standard base64 must come in groups of four.
  for (std::string_view bad : {"Z", "Zm", "Zm9", "Zm9vY", "Zm9vYg", "Zm9vYg=", "Zg=", "Zg"}) {
    EXPECT_FALSE(base64Decode(bad)) << bad;
  }
  // base64url has no padding, but a final group of one character is never possible.
  for (std::string_view bad : {"Z", "Zm9vY", "Zm9vYmFyZ"}) {
    EXPECT_FALSE(base64UrlDecode(bad)) << bad;
  }
}

TEST(Base64, RejectsMisplacedOrExtraPadding) {
  for (std::string_view bad :
       {"A=B=", "====", "===", "=", "==", "Zg===", "Z===", "=Zm9", "Zm=v", "Zg=a",
        "Zg==Zg==", "Zm8=Zm8=", "Zm9v====", "Zm9v=", "Zm9v==", "Zm9vYg===", "Zm9vYm=="}) {
    EXPECT_FALSE(base64Decode(bad)) << bad;
  }
  // base64url takes no padding at all.
  for (std::string_view bad : {"Zg==", "Zm8=", "Zg=", "=", "Zm9vYg=="}) {
    EXPECT_FALSE(base64UrlDecode(bad)) << bad;
  }
}

TEST(Base64, RejectsNonCanonicalTrailingBits) {
  // "Zg==" is 'f'; "Zh==" carries the same byte plus non-zero unused bits.
  for (std::string_view bad : {"Zh==", "Zi==", "Zv==", "Zm9=", "Zm+=", "Zm9vYh==", "Zm9vYmF="}) {
    EXPECT_FALSE(base64Decode(bad)) << bad;
  }
  for (std::string_view bad : {"Zh", "Zm9", "Zm9vYh"}) {
    EXPECT_FALSE(base64UrlDecode(bad)) << bad;
  }
  EXPECT_EQ(base64Decode("Zg=="), "f");
  EXPECT_EQ(base64UrlDecode("Zm8"), "fo");
}

TEST(Base64, EachByteHasExactlyOneAcceptedEncoding) {
  // Of the 4096 strings "XY==", exactly one decodes to each of the 256 byte values.
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<int> encodings(256, 0);
  for (const char x : kAlphabet) {
    for (const char y : kAlphabet) {
      const auto decoded = base64Decode(std::string{x, y, '=', '='});
      if (!decoded) continue;
      ASSERT_EQ(decoded->size(), 1U);
      ++encodings[static_cast<unsigned char>((*decoded)[0])];
    }
  }
  for (int b = 0; b < 256; ++b) EXPECT_EQ(encodings[b], 1) << "byte " << b;
}

}  // namespace
}  // namespace gssgate

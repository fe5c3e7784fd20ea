#include "common/handle_codec.h"

#include <gtest/gtest.h>

#include <string>

#include "common/base64.h"

namespace gssgate {
namespace {

using namespace std::string_literals;

constexpr uint32_t kKeyId = 0xC0FFEE01;
constexpr int64_t kNow = 1'700'000'000;
constexpr std::string_view kPrefix = "gsh1.";
constexpr std::string_view kUrlAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

HandleClaims claims(std::string principal = "alice@EXAMPLE.COM", int64_t expires_at = kNow + 300) {
  HandleClaims c;
  c.credential_id = std::string("0123456789abcdef");
  c.principal = std::move(principal);
  c.expires_at = expires_at;
  return c;
}

class HandleCodecTest : public ::testing::Test {
 protected:
  SecretString key_ = Aead::randomKey();
  HandleCodec codec_{kKeyId, key_.str()};
};

TEST_F(HandleCodecTest, SealOpenRoundTrip) {
  const HandleClaims in = claims();
  const std::string handle = codec_.seal(in);
  EXPECT_TRUE(handle.starts_with(kPrefix));
  EXPECT_LE(handle.size(), HandleCodec::kMaxHandleChars);
  EXPECT_EQ(handle.find("alice"), std::string::npos);  // the principal is encrypted
  auto out = codec_.open(handle, kNow);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->credential_id, in.credential_id);
  EXPECT_EQ(out->principal, in.principal);
  EXPECT_EQ(out->expires_at, in.expires_at);
  EXPECT_EQ(codec_.keyId(), kKeyId);
}

TEST_F(HandleCodecTest, HandleIsBase64UrlWithoutPadding) {
  const std::string handle = codec_.seal(claims());
  const std::string_view payload = std::string_view{handle}.substr(kPrefix.size());
  EXPECT_EQ(payload.find_first_not_of(kUrlAlphabet), std::string_view::npos) << handle;
}

TEST_F(HandleCodecTest, ExpiryIsExclusive) {
  const std::string handle = codec_.seal(claims("alice@EXAMPLE.COM", kNow));
  EXPECT_FALSE(codec_.open(handle, kNow).has_value());      // expires_at == now
  EXPECT_FALSE(codec_.open(handle, kNow + 1).has_value());  // expires_at < now
  EXPECT_TRUE(codec_.open(handle, kNow - 1).has_value());   // one second before
  const std::string old = codec_.seal(claims("alice@EXAMPLE.COM", 0));
  EXPECT_FALSE(codec_.open(old, kNow).has_value());
}

TEST_F(HandleCodecTest, TamperingAnyCharacterOfThePayloadIsRefused) {
  const std::string handle = codec_.seal(claims());
  for (size_t i = kPrefix.size(); i < handle.size(); ++i) {
    for (const char c : kUrlAlphabet) {
      if (c == handle[i]) continue;
      std::string tampered = handle;
      tampered[i] = c;
      ASSERT_FALSE(codec_.open(tampered, kNow).has_value())
          << "position " << i << " changed to '" << c << "' was accepted";
    }
    for (const char c : {'=', '+', '/', '.', ' ', '\0'}) {  // outside the alphabet
      std::string tampered = handle;
      tampered[i] = c;
      ASSERT_FALSE(codec_.open(tampered, kNow).has_value()) << "position " << i;
    }
  }
}

TEST_F(HandleCodecTest, TruncatedOrExtendedHandlesAreRefused) {
  const std::string handle = codec_.seal(claims());
  for (size_t n = 0; n < handle.size(); ++n) {
    EXPECT_FALSE(codec_.open(handle.substr(0, n), kNow).has_value()) << n;
  }
  EXPECT_FALSE(codec_.open(handle + "A", kNow).has_value());
  EXPECT_FALSE(codec_.open(handle + "AAAA", kNow).has_value());
  EXPECT_FALSE(codec_.open(handle + "=", kNow).has_value());
}

TEST_F(HandleCodecTest, WrongPrefixIsRefused) {
  const std::string handle = codec_.seal(claims());
  const std::string payload = handle.substr(kPrefix.size());
  for (const char* prefix : {"", "gsh1", "gsh2.", "GSH1.", "gsh1..", " gsh1.", "gsh1:"}) {
    EXPECT_FALSE(codec_.open(prefix + payload, kNow).has_value()) << "'" << prefix << "'";
    EXPECT_FALSE(HandleCodec::peekKeyId(prefix + payload).has_value()) << "'" << prefix << "'";
  }
}

TEST_F(HandleCodecTest, WrongKeyIdIsRefused) {
  const std::string handle = codec_.seal(claims());
  // Same key, another id: refused by the id check.
  const HandleCodec otherId(kKeyId + 1, key_.str());
  EXPECT_FALSE(otherId.open(handle, kNow).has_value());
  // Rewriting the id in the handle to match does not help: the id is bound as associated data.
  auto raw = base64UrlDecode(std::string_view{handle}.substr(kPrefix.size()));
  ASSERT_TRUE(raw.has_value());
  (*raw)[3] = static_cast<char>(static_cast<uint8_t>((*raw)[3]) + 1);
  const std::string relabelled = std::string(kPrefix) + base64UrlEncode(*raw);
  EXPECT_EQ(HandleCodec::peekKeyId(relabelled), kKeyId + 1);
  EXPECT_FALSE(otherId.open(relabelled, kNow).has_value());
  EXPECT_FALSE(codec_.open(relabelled, kNow).has_value());
}

TEST_F(HandleCodecTest, OtherKeyIsRefused) {
  const std::string handle = codec_.seal(claims());
  const HandleCodec otherKey(kKeyId, Aead::randomKey().str());
  EXPECT_FALSE(otherKey.open(handle, kNow).has_value());
  EXPECT_FALSE(codec_.open(otherKey.seal(claims()), kNow).has_value());
}

TEST_F(HandleCodecTest, PeekKeyId) {
  EXPECT_EQ(HandleCodec::peekKeyId(codec_.seal(claims())), kKeyId);
  const HandleCodec zero(0, key_.str());
  EXPECT_EQ(HandleCodec::peekKeyId(zero.seal(claims())), 0U);
  const HandleCodec max(0xFFFFFFFF, key_.str());
  EXPECT_EQ(HandleCodec::peekKeyId(max.seal(claims())), 0xFFFFFFFFU);
  // Malformed: no prefix, not base64url, or too short to hold id + nonce + tag.
  EXPECT_FALSE(HandleCodec::peekKeyId("").has_value());
  EXPECT_FALSE(HandleCodec::peekKeyId("gsh1.").has_value());
  EXPECT_FALSE(HandleCodec::peekKeyId("gsh1.!!!!").has_value());
  EXPECT_FALSE(HandleCodec::peekKeyId("gsh1." + base64UrlEncode(std::string(31, 'x'))).has_value());
  EXPECT_EQ(HandleCodec::peekKeyId("gsh1." + base64UrlEncode(std::string("\x00\x00\x00\x07", 4) +
                                                             std::string(28, 'x'))),
            7U);
}

TEST_F(HandleCodecTest, OversizedInputIsRefused) {
  const std::string oversized = "gsh1." + std::string(HandleCodec::kMaxHandleChars, 'A');
  EXPECT_FALSE(HandleCodec::peekKeyId(oversized).has_value());
  EXPECT_FALSE(codec_.open(oversized, kNow).has_value());
  const std::string huge = "gsh1." + std::string(1 << 20, 'A');
  EXPECT_FALSE(HandleCodec::peekKeyId(huge).has_value());
  EXPECT_FALSE(codec_.open(huge, kNow).has_value());
  // A genuine handle padded past the limit is refused before anything is decoded.
  std::string padded = codec_.seal(claims());
  padded.resize(HandleCodec::kMaxHandleChars + 1, 'A');
  EXPECT_FALSE(codec_.open(padded, kNow).has_value());
}

TEST_F(HandleCodecTest, LongestPrincipalsStillFitTheLimit) {
  // Principals up to 512 bytes (far beyond real ones) give handles open() accepts.
  const std::string principal = std::string(500, 'p') + "@EXAMPLE.COM";
  const std::string handle = codec_.seal(claims(principal));
  EXPECT_LE(handle.size(), HandleCodec::kMaxHandleChars);
  auto out = codec_.open(handle, kNow);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->principal, principal);
}

TEST_F(HandleCodecTest, PrincipalWithOddBytesSurvives) {
  const std::string odd = "al\0ice\xff\xfe\n\r\t@/\\\"'<>\x7f"s + "é@EX.COM";
  auto out = codec_.open(codec_.seal(claims(odd)), kNow);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->principal, odd);
  out = codec_.open(codec_.seal(claims("")), kNow);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->principal, "");
}

TEST_F(HandleCodecTest, CredentialIdBytesSurvive) {
  HandleClaims in = claims();
  in.credential_id = std::string("\0\xff\x01\x80\0\0\0\0\0\0\0\0\0\0\0\x7f", 16);
  auto out = codec_.open(codec_.seal(in), kNow);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->credential_id, in.credential_id);
}

TEST_F(HandleCodecTest, SealsOfTheSameClaimsDiffer) {
  EXPECT_NE(codec_.seal(claims()), codec_.seal(claims()));
}

TEST_F(HandleCodecTest, FarFutureExpiryRoundTrips) {
  constexpr int64_t kFar = 1'099'511'627'776;  // 2^40
  auto out = codec_.open(codec_.seal(claims("a@B", kFar)), kNow);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->expires_at, kFar);
}

}  // namespace
}  // namespace gssgate

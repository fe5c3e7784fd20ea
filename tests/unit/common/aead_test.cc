#include "common/aead.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace gssgate {
namespace {

constexpr std::string_view kAd = "gssgate test|v1";

class AeadTest : public ::testing::Test {
 protected:
  SecretString key_ = Aead::randomKey();
  Aead aead_{key_.str()};
};

TEST_F(AeadTest, RoundTrip) {
  const std::string plain = "credential id and principal: alice@EXAMPLE.COM";
  const std::string sealed = aead_.seal(plain, kAd);
  EXPECT_EQ(sealed.size(), plain.size() + Aead::kOverhead);
  EXPECT_EQ(sealed.find(plain), std::string::npos);  // encrypted, not just authenticated
  auto back = aead_.open(sealed, kAd);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->str(), plain);
}

TEST_F(AeadTest, RoundTripOfEmptyAndBinaryAndLargePlaintexts) {
  for (const std::string& plain :
       {std::string(), std::string("\0\x01\xff\n", 4), std::string(size_t{64} * 1024, 'x')}) {
    auto back = aead_.open(aead_.seal(plain, kAd), kAd);
    ASSERT_TRUE(back.has_value()) << plain.size();
    EXPECT_EQ(back->str(), plain);
  }
}

TEST_F(AeadTest, EmptyAssociatedDataRoundTripsButDoesNotMatchOther) {
  const std::string sealed = aead_.seal("x", "");
  ASSERT_TRUE(aead_.open(sealed, "").has_value());
  EXPECT_FALSE(aead_.open(sealed, kAd).has_value());
  EXPECT_FALSE(aead_.open(aead_.seal("x", kAd), "").has_value());
}

TEST_F(AeadTest, WrongKeyIsRefused) {
  const std::string sealed = aead_.seal("secret", kAd);
  const Aead other(Aead::randomKey().str());
  EXPECT_FALSE(other.open(sealed, kAd).has_value());
  // A key differing in one bit only.
  std::string near = key_.str();
  near[31] = static_cast<char>(static_cast<unsigned char>(near[31]) ^ 0x01U);
  EXPECT_FALSE(Aead(near).open(sealed, kAd).has_value());
}

TEST_F(AeadTest, WrongAssociatedDataIsRefused) {
  const std::string sealed = aead_.seal("secret", kAd);
  EXPECT_FALSE(aead_.open(sealed, "gssgate test|v2").has_value());
  EXPECT_FALSE(aead_.open(sealed, std::string(kAd) + "x").has_value());
  EXPECT_FALSE(aead_.open(sealed, kAd.substr(0, kAd.size() - 1)).has_value());
}

TEST_F(AeadTest, AnyFlippedBitIsRefused) {
  const std::string sealed = aead_.seal("sixteen byte msg", kAd);
  for (size_t i = 0; i < sealed.size(); ++i) {
    for (unsigned bit = 0; bit < 8; ++bit) {
      std::string flipped = sealed;
      flipped[i] = static_cast<char>(static_cast<unsigned char>(flipped[i]) ^ (1U << bit));
      EXPECT_FALSE(aead_.open(flipped, kAd).has_value()) << "byte " << i << " bit " << bit;
    }
  }
}

TEST_F(AeadTest, TruncatedOrExtendedIsRefused) {
  const std::string sealed = aead_.seal("some plaintext", kAd);
  for (size_t n = 0; n < sealed.size(); ++n) {
    EXPECT_FALSE(aead_.open(sealed.substr(0, n), kAd).has_value()) << n;
    EXPECT_FALSE(aead_.open(sealed.substr(sealed.size() - n), kAd).has_value()) << n;
  }
  EXPECT_FALSE(aead_.open(sealed + '\0', kAd).has_value());
}

TEST_F(AeadTest, EmptyAndShortInputsAreRefused) {
  EXPECT_FALSE(aead_.open("", kAd).has_value());
  EXPECT_FALSE(aead_.open(std::string(Aead::kOverhead - 1, '\0'), kAd).has_value());
  // Exactly the overhead: an all-zero "seal" of the empty plaintext is still a forgery.
  EXPECT_FALSE(aead_.open(std::string(Aead::kOverhead, '\0'), kAd).has_value());
}

TEST_F(AeadTest, TwoSealsOfTheSamePlaintextDiffer) {
  std::set<std::string> seen;
  std::set<std::string> nonces;
  for (int i = 0; i < 100; ++i) {
    const std::string sealed = aead_.seal("same", kAd);
    seen.insert(sealed);
    nonces.insert(sealed.substr(0, Aead::kNonceBytes));
    ASSERT_TRUE(aead_.open(sealed, kAd).has_value());
  }
  EXPECT_EQ(seen.size(), 100U);
  EXPECT_EQ(nonces.size(), 100U);
}

TEST(AeadKeyTest, RandomKeysHaveTheRightSizeAndDiffer) {
  const SecretString a = Aead::randomKey();
  const SecretString b = Aead::randomKey();
  EXPECT_EQ(a.size(), Aead::kKeyBytes);
  EXPECT_EQ(b.size(), Aead::kKeyBytes);
  EXPECT_NE(a.str(), b.str());
  EXPECT_EQ(randomBytes(0).size(), 0U);
  EXPECT_EQ(randomBytes(7).size(), 7U);
}

TEST(AeadDeathTest, WrongKeySizeAborts) {
  EXPECT_DEATH(Aead("too short"), "");
  EXPECT_DEATH(Aead(std::string(Aead::kKeyBytes + 1, 'k')), "");
}

}  // namespace
}  // namespace gssgate

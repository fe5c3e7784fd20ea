#include "common/secure_wipe.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gssgate {
namespace {

// Short enough to live inside std::string's own bytes (libstdc++ keeps up to 15 characters
// there), so its bytes can be looked for in the object representation, which a test may read.
constexpr std::string_view kShortSecret = "hunter2!";

// True if `needle`, or all of it but the first byte, occurs in the bytes of object `obj`.
// (Clearing a std::string writes a NUL over the first byte only; the rest would still be there.)
template <typename T>
bool objectBytesContain(const T& obj, std::string_view needle) {
  // Reading any object's representation through char is allowed (and is all we do).
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
  const std::string_view repr(reinterpret_cast<const char*>(&obj), sizeof(T));
  return repr.find(needle.substr(needle.empty() ? 0 : 1)) != std::string_view::npos;
}

TEST(SecureWipe, ZeroesARawBuffer) {
  std::array<unsigned char, 32> buf{};
  buf.fill(0xA5);
  secureWipe(buf.data(), buf.size());
  EXPECT_TRUE(std::all_of(buf.begin(), buf.end(), [](unsigned char c) { return c == 0; }));
}

TEST(SecureWipe, ZeroesOnlyTheGivenRange) {
  std::array<unsigned char, 8> buf{};
  buf.fill(0xA5);
  secureWipe(buf.data() + 2, 4);
  EXPECT_EQ(buf, (std::array<unsigned char, 8>{0xA5, 0xA5, 0, 0, 0, 0, 0xA5, 0xA5}));
}

TEST(SecureWipe, AcceptsNullAndEmpty) {
  secureWipe(nullptr, 0);
  secureWipe(nullptr, 16);  // documented no-op for null
  std::array<unsigned char, 1> one{0x42};
  secureWipe(one.data(), 0);
  EXPECT_EQ(one[0], 0x42);
}

TEST(SecureWipe, StringIsZeroedInPlaceThenCleared) {
  std::string s(kShortSecret);
  ASSERT_TRUE(objectBytesContain(s, kShortSecret));  // the check below can see it
  secureWipe(s);
  EXPECT_TRUE(s.empty());
  EXPECT_FALSE(objectBytesContain(s, kShortSecret));
}

TEST(SecureWipe, LongStringIsCleared) {
  // Heap-allocated this time; its bytes are zeroed by the same call as above (which the test
  // can observe only for the in-object case without reading freed or out-of-range memory).
  std::string s(100, 'k');
  secureWipe(s);
  EXPECT_TRUE(s.empty());
}

TEST(SecureWipe, VectorIsZeroedThenCleared) {
  std::vector<unsigned char> v(64, 0x5A);
  const unsigned char* const data = v.data();
  secureWipe(v);
  EXPECT_TRUE(v.empty());
  ASSERT_EQ(v.data(), data);  // clear() keeps the allocation
  EXPECT_TRUE(std::all_of(data, data + 64, [](unsigned char c) { return c == 0; }));
}

TEST(SecretString, HoldsTheValue) {
  const SecretString s(std::string("token-bytes"));
  EXPECT_EQ(s.str(), "token-bytes");
  EXPECT_EQ(s.size(), 11U);
  EXPECT_FALSE(s.empty());
  EXPECT_TRUE(SecretString().empty());
}

TEST(SecretString, DestructorWipesItsBytes) {
  // Construct in storage we own, destroy it, then look at what is left in the storage.
  alignas(SecretString) std::array<unsigned char, sizeof(SecretString)> storage{};
  auto* s = new (storage.data()) SecretString(std::string(kShortSecret));
  ASSERT_TRUE(objectBytesContain(storage, kShortSecret));
  s->~SecretString();
  EXPECT_FALSE(objectBytesContain(storage, kShortSecret));
}

TEST(SecretString, ConstructingFromAnRvalueWipesTheSource) {
  std::string source(kShortSecret);
  const SecretString s(std::move(source));
  EXPECT_EQ(s.str(), kShortSecret);
  EXPECT_FALSE(objectBytesContain(source, kShortSecret));
}

TEST(SecretString, ConstructingFromAnLvalueCopies) {
  const std::string source(kShortSecret);
  const SecretString s(source);
  EXPECT_EQ(s.str(), kShortSecret);
  EXPECT_EQ(source, kShortSecret);  // still the caller's to wipe
}

TEST(SecretString, MoveConstructionEmptiesAndWipesTheSource) {
  SecretString a{std::string(kShortSecret)};
  const SecretString b(std::move(a));
  EXPECT_EQ(b.str(), kShortSecret);
  EXPECT_TRUE(a.empty());
  EXPECT_FALSE(objectBytesContain(a, kShortSecret));
}

TEST(SecretString, MoveAssignmentWipesBothOldValues) {
  SecretString a(std::string("first-secret"));
  SecretString b{std::string(kShortSecret)};
  a = std::move(b);
  EXPECT_EQ(a.str(), kShortSecret);
  EXPECT_TRUE(b.empty());
  EXPECT_FALSE(objectBytesContain(b, kShortSecret));
  EXPECT_FALSE(objectBytesContain(a, "first-secret"));
}

TEST(SecretString, MovesLongValues) {
  const std::string value(200, 't');
  SecretString a{std::string(value)};
  const SecretString b(std::move(a));
  EXPECT_EQ(b.str(), value);
  EXPECT_TRUE(a.empty());
}

TEST(SecretString, SelfMoveAssignmentKeepsTheValue) {
  SecretString a{std::string(kShortSecret)};
  SecretString& alias = a;
  a = std::move(alias);
  EXPECT_EQ(a.str(), kShortSecret);
}

TEST(SecretString, MutableStrWritesThrough) {
  SecretString s(std::string("abc"));
  s.mutableStr() += "def";
  EXPECT_EQ(s.str(), "abcdef");
}

}  // namespace
}  // namespace gssgate

#include "proxy/broker_client/handle_minter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/aead.h"
#include "common/handle_codec.h"
#include "proxy/session/session_cookie.h"

namespace gssgate::proxy {
namespace {

constexpr int64_t kNow = 1'800'000'000;

Session sessionFor(uint32_t key_id, int64_t credential_expires_at = kNow + 3600) {
  Session s;
  s.principal = "alice@EXAMPLE.COM";
  s.local_name = "alice";
  s.issued_at = kNow;
  s.expires_at = kNow + 3600;
  s.session_id = std::string(8, 's');
  s.credential_id = std::string("0123456789abcdef");
  s.credential_expires_at = credential_expires_at;
  s.handle_key_id = key_id;
  return s;
}

TEST(HandleMinter, MintsAHandleTheBrokerKeyOpens) {
  HandleMinter minter;
  SecretString key = Aead::randomKey();
  minter.remember(7, key, 300);
  EXPECT_TRUE(minter.knows(7));
  auto handle = minter.mint(sessionFor(7), kNow);
  ASSERT_TRUE(handle.has_value());
  EXPECT_TRUE(handle->starts_with("gsh1."));
  auto claims = HandleCodec(7, key.str()).open(*handle, kNow);
  ASSERT_TRUE(claims.has_value());
  EXPECT_EQ(claims->credential_id, "0123456789abcdef");
  EXPECT_EQ(claims->principal, "alice@EXAMPLE.COM");
  EXPECT_EQ(claims->expires_at, kNow + 300);  // the broker's handle TTL
  // Another broker key cannot open it.
  SecretString other = Aead::randomKey();
  EXPECT_FALSE(HandleCodec(7, other.str()).open(*handle, kNow).has_value());
  // Every request gets a fresh handle.
  EXPECT_NE(*minter.mint(sessionFor(7), kNow), *handle);
}

TEST(HandleMinter, NeverPastTheCredentialsOwnExpiry) {
  HandleMinter minter;
  SecretString key = Aead::randomKey();
  minter.remember(7, key, 300);
  auto handle = minter.mint(sessionFor(7, kNow + 60), kNow);
  ASSERT_TRUE(handle.has_value());
  EXPECT_EQ(HandleCodec(7, key.str()).open(*handle, kNow)->expires_at, kNow + 60);
  EXPECT_FALSE(minter.mint(sessionFor(7, kNow), kNow).has_value());  // expired now
  EXPECT_FALSE(minter.mint(sessionFor(7, kNow - 1), kNow).has_value());
}

TEST(HandleMinter, UnknownKeyOrNoCredentialMintsNothing) {
  HandleMinter minter;
  EXPECT_FALSE(minter.mint(sessionFor(7), kNow).has_value());  // e.g. after a proxy restart
  SecretString key = Aead::randomKey();
  minter.remember(7, key, 300);
  EXPECT_FALSE(minter.mint(sessionFor(8), kNow).has_value());
  Session none = sessionFor(7);
  none.credential_id.clear();
  EXPECT_FALSE(minter.mint(none, kNow).has_value());
}

TEST(HandleMinter, UnusableKeysAreNotRemembered) {
  HandleMinter minter;
  minter.remember(1, SecretString(std::string(16, 'k')), 300);  // wrong size
  SecretString key = Aead::randomKey();
  minter.remember(2, key, 0);  // no TTL
  EXPECT_FALSE(minter.knows(1));
  EXPECT_FALSE(minter.knows(2));
}

TEST(HandleMinter, RememberingAgainUpdatesTheTtl) {
  HandleMinter minter;
  SecretString key = Aead::randomKey();
  minter.remember(7, key, 300);
  minter.remember(7, key, 30);
  auto handle = minter.mint(sessionFor(7), kNow);
  ASSERT_TRUE(handle.has_value());
  EXPECT_EQ(HandleCodec(7, key.str()).open(*handle, kNow)->expires_at, kNow + 30);
}

TEST(HandleMinter, WhenFullTheOldestKeyIsForgottenNotTheLowestId) {
  // A broker that restarts often hands out a new (random) key id each time; the key in use now
  // must survive, whatever its id.
  HandleMinter minter;
  std::vector<SecretString> keys;
  for (uint32_t i = 0; i < 17; ++i) keys.push_back(Aead::randomKey());
  // Ids decrease: the newest keys have the lowest ids.
  for (uint32_t i = 0; i < 17; ++i) minter.remember(1000 - i, keys[i], 300);
  EXPECT_FALSE(minter.knows(1000)) << "the oldest key should have been dropped";
  for (uint32_t i = 1; i < 17; ++i) EXPECT_TRUE(minter.knows(1000 - i)) << i;
  // A key the broker still uses (remembered again at a recent deposit) counts as recent.
  minter.remember(999, keys[1], 300);
  minter.remember(2000, keys[0], 300);
  EXPECT_TRUE(minter.knows(999));
  EXPECT_FALSE(minter.knows(998));
  EXPECT_TRUE(minter.knows(2000));
}

}  // namespace
}  // namespace gssgate::proxy

#include "proxy/session/session_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace gssgate::proxy {
namespace {

Session session(const std::string& who, int64_t expires_at) {
  Session s;
  s.principal = who + "@EXAMPLE.COM";
  s.local_name = who;
  s.issued_at = 100;
  s.expires_at = expires_at;
  s.session_id = "12345678";
  return s;
}

TEST(SessionCacheTest, HitOnlyForTheSameCookieAndCodec) {
  SessionCache cache;
  EXPECT_EQ(cache.find("cookie-a", 1, 200), nullptr);
  cache.put("cookie-a", 1, session("alice", 1000));
  const Session* s = cache.find("cookie-a", 1, 200);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->local_name, "alice");
  EXPECT_EQ(cache.find("cookie-b", 1, 200), nullptr);
  EXPECT_EQ(cache.find("cookie-a ", 1, 200), nullptr);  // exact value only
}

TEST(SessionCacheTest, AnotherCodecDropsTheEntry) {
  // After a reload the keys may have changed: what the old codec opened is not reused.
  SessionCache cache;
  cache.put("cookie-a", 1, session("alice", 1000));
  EXPECT_EQ(cache.find("cookie-a", 2, 200), nullptr);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.find("cookie-a", 1, 200), nullptr);  // gone, not just hidden
}

TEST(SessionCacheTest, ExpiredEntriesAreNeverReturned) {
  SessionCache cache;
  cache.put("cookie-a", 1, session("alice", 300));
  EXPECT_NE(cache.find("cookie-a", 1, 299), nullptr);
  EXPECT_EQ(cache.find("cookie-a", 1, 300), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(SessionCacheTest, StaysBounded) {
  SessionCache cache;
  for (size_t i = 0; i < SessionCache::kMaxEntries * 2 + 5; ++i) {
    cache.put("cookie-" + std::to_string(i), 1, session("u", 1000));
    ASSERT_LE(cache.size(), SessionCache::kMaxEntries);
  }
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace gssgate::proxy

#include "broker/service/peer_registry.h"

#include <gtest/gtest.h>

namespace gssgate::broker {
namespace {

PeerCred cred(pid_t pid, uid_t uid, gid_t gid) {
  PeerCred c;
  c.pid = pid;
  c.uid = uid;
  c.gid = gid;
  return c;
}

TEST(PeerRegistryTest, LooksUpARecordedFdByGrpcPeerName) {
  PeerRegistry registry;
  registry.record(7, cred(1234, 1000, 100));
  auto peer = registry.lookup("fd:7");
  ASSERT_TRUE(peer.has_value());
  EXPECT_EQ(peer->pid, 1234);
  EXPECT_EQ(peer->uid, 1000U);
  EXPECT_EQ(peer->gid, 100U);
}

TEST(PeerRegistryTest, UnknownFdIsNotFound) {
  PeerRegistry registry;
  registry.record(7, cred(1, 2, 3));
  EXPECT_FALSE(registry.lookup("fd:8").has_value());
  EXPECT_FALSE(registry.lookup("fd:70").has_value());
  EXPECT_FALSE(registry.lookup("fd:-7").has_value());
}

TEST(PeerRegistryTest, NonFdPeersAreNotFound) {
  PeerRegistry registry;
  registry.record(7, cred(1, 2, 3));
  EXPECT_FALSE(registry.lookup("ipv4:127.0.0.1:7").has_value());
  EXPECT_FALSE(registry.lookup("ipv6:[::1]:7").has_value());
  EXPECT_FALSE(registry.lookup("unix:/run/gssgate.sock").has_value());
  EXPECT_FALSE(registry.lookup("").has_value());
  EXPECT_FALSE(registry.lookup("FD:7").has_value());
  EXPECT_FALSE(registry.lookup(" fd:7").has_value());
}

TEST(PeerRegistryTest, MalformedFdNumbersAreNotFound) {
  PeerRegistry registry;
  registry.record(7, cred(1, 2, 3));
  EXPECT_FALSE(registry.lookup("fd:").has_value());
  EXPECT_FALSE(registry.lookup("fd:7x").has_value());
  EXPECT_FALSE(registry.lookup("fd:x7").has_value());
  EXPECT_FALSE(registry.lookup("fd: 7").has_value());
  EXPECT_FALSE(registry.lookup("fd:7 ").has_value());
  EXPECT_FALSE(registry.lookup("fd:+7").has_value());
  EXPECT_FALSE(registry.lookup("fd:99999999999999999999").has_value());
}

TEST(PeerRegistryTest, RecordingAReusedFdOverwritesThePreviousPeer) {
  PeerRegistry registry;
  registry.record(7, cred(1, 1000, 1000));
  registry.record(7, cred(2, 2000, 2000));
  auto peer = registry.lookup("fd:7");
  ASSERT_TRUE(peer.has_value());
  EXPECT_EQ(peer->pid, 2);
  EXPECT_EQ(peer->uid, 2000U);
  EXPECT_EQ(peer->gid, 2000U);
}

TEST(PeerRegistryTest, KeepsSeveralFdsApart) {
  PeerRegistry registry;
  registry.record(7, cred(1, 1000, 1000));
  registry.record(8, cred(2, 2000, 2000));
  ASSERT_TRUE(registry.lookup("fd:7").has_value());
  ASSERT_TRUE(registry.lookup("fd:8").has_value());
  EXPECT_EQ(registry.lookup("fd:7")->uid, 1000U);
  EXPECT_EQ(registry.lookup("fd:8")->uid, 2000U);
}

}  // namespace
}  // namespace gssgate::broker

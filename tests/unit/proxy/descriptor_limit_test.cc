#include "proxy/server/descriptor_limit.h"

#include <gtest/gtest.h>

namespace gssgate::proxy {
namespace {

rlimit lim(rlim_t soft, rlim_t hard) { return rlimit{.rlim_cur = soft, .rlim_max = hard}; }

TEST(DescriptorPlanTest, EnoughAlreadyChangesNothing) {
  auto plan = planDescriptors(100, lim(1024, 4096));
  EXPECT_EQ(plan.needed, 2 * 100 + kReservedDescriptors);
  EXPECT_EQ(plan.soft, 1024U);
  EXPECT_FALSE(plan.insufficient);
  EXPECT_FALSE(planDescriptors(10000, lim(RLIM_INFINITY, RLIM_INFINITY)).insufficient);
}

TEST(DescriptorPlanTest, SoftLimitIsRaisedWithinTheHardLimit) {
  // systemd's default: soft 1024, hard 524288; the default max_connections 10000 fits.
  auto plan = planDescriptors(10000, lim(1024, 524288));
  EXPECT_EQ(plan.soft, 2 * 10000 + kReservedDescriptors);
  EXPECT_FALSE(plan.insufficient);
  plan = planDescriptors(10000, lim(1024, RLIM_INFINITY));
  EXPECT_EQ(plan.soft, 2 * 10000 + kReservedDescriptors);
}

TEST(DescriptorPlanTest, HardLimitBelowTheNeedIsReported) {
  auto plan = planDescriptors(10000, lim(256, 256));  // ulimit -n 256
  EXPECT_EQ(plan.soft, 256U);
  EXPECT_TRUE(plan.insufficient);
  plan = planDescriptors(10000, lim(256, 1000));
  EXPECT_EQ(plan.soft, 1000U);
  EXPECT_TRUE(plan.insufficient);
}

TEST(DescriptorPlanTest, RoomForTheClientConnectionsIsNotReported) {
  // Raised as far as the hard limit allows; every client connection fits, only a full load
  // of upstream connections would not: no warning (it would fire on most default setups).
  auto plan = planDescriptors(10000, lim(1024, 20000));
  EXPECT_EQ(plan.soft, 20000U);
  EXPECT_FALSE(plan.insufficient);
}

}  // namespace
}  // namespace gssgate::proxy

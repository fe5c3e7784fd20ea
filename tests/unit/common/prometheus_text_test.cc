#include "common/prometheus_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace gssgate {
namespace {

using ::testing::HasSubstr;

TEST(PrometheusText, FamilyAndSamples) {
  PrometheusText out;
  out.family("x_total", "counter", "Things.");
  out.sample("x_total", "", uint64_t{3});
  out.sample("x_total", "kind=\"a\"", int64_t{-1});
  out.sample("x_seconds", "", 0.5);
  EXPECT_EQ(out.take(),
            "# HELP x_total Things.\n# TYPE x_total counter\nx_total 3\nx_total{kind=\"a\"} -1\n"
            "x_seconds 0.5\n");
}

TEST(PrometheusText, LabelValuesAreEscaped) {
  EXPECT_EQ(promLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(promLabelValue("/app"), "/app");
}

TEST(Histogram, BucketsAreCumulativeAndCountMatchesInf) {
  Histogram h({0.001, 0.01, 0.1});
  h.observe(std::chrono::microseconds(500));  // ≤ 0.001
  h.observe(std::chrono::milliseconds(1));    // exactly on a bound: in that bucket
  h.observe(std::chrono::milliseconds(50));   // ≤ 0.1
  h.observe(std::chrono::seconds(3));         // +Inf only
  h.observe(std::chrono::nanoseconds(-5));    // a clock step backwards counts as 0
  PrometheusText out;
  h.render(out, "t_seconds", "T.");
  const std::string text = out.take();
  EXPECT_THAT(text, HasSubstr("# TYPE t_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("t_seconds_bucket{le=\"0.001\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("t_seconds_bucket{le=\"0.01\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("t_seconds_bucket{le=\"0.1\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("t_seconds_bucket{le=\"+Inf\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("t_seconds_count 5\n"));
  EXPECT_THAT(text, HasSubstr("t_seconds_sum 3.0515\n"));
  EXPECT_EQ(h.count(), 5U);
}

TEST(Histogram, ConcurrentObservationsAreAllCounted) {
  Histogram h = Histogram::latency();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h] {
      for (int i = 0; i < 10000; ++i) h.observe(std::chrono::microseconds(i % 3000));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(h.count(), 40000U);
  PrometheusText out;
  h.render(out, "c_seconds", "C.");
  EXPECT_THAT(out.take(), HasSubstr("c_seconds_bucket{le=\"+Inf\"} 40000\n"));
}

}  // namespace
}  // namespace gssgate

// DeadlineTicketSource: the deadline on the KDC exchange, and the cap on outstanding exchanges,
// against a fake inner source whose answer the test releases. KdcTicketSource itself is covered
// by the integration tests (tests/integration/test_faults_kdc.py) against a real KDC.
#include "broker/credentials/ticket_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace gssgate::broker {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Answers "ticket:<server>" once released (or at once when `release()` was called before).
class GatedSource final : public TicketSource {
 public:
  absl::StatusOr<SecretString> fetch(const SecretString& tgt,
                                     const std::string& server) const override {
    std::unique_lock lock(mu_);
    ++started_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    if (tgt.str() == "bad") return absl::FailedPreconditionError("unknown service");
    return SecretString("ticket:" + server);
  }
  void release() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void waitStarted(int n) const {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return started_ >= n; });
  }

 private:
  mutable std::mutex mu_;  // guards open_, started_
  mutable std::condition_variable cv_;
  bool open_ = false;
  mutable int started_ = 0;
};

void waitOutstanding(const DeadlineTicketSource& s, size_t n) {
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (s.outstanding() != n && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(s.outstanding(), n);
}

TEST(DeadlineTicketSourceTest, AnswerWithinTheDeadlineIsPassedOn) {
  auto inner = std::make_shared<GatedSource>();
  inner->release();
  DeadlineTicketSource s(inner, 5s, 4);
  auto got = s.fetch(SecretString(std::string("tgt")), "postgres/db@EX.COM");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->str(), "ticket:postgres/db@EX.COM");
  auto bad = s.fetch(SecretString(std::string("bad")), "x/y@EX.COM");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
  waitOutstanding(s, 0);
  EXPECT_EQ(s.timedOut(), 0U);
}

TEST(DeadlineTicketSourceTest, SilentKdcFailsAtTheDeadlineAndTheLateAnswerIsDropped) {
  auto inner = std::make_shared<GatedSource>();
  DeadlineTicketSource s(inner, 200ms, 4);
  const auto started = std::chrono::steady_clock::now();
  auto got = s.fetch(SecretString(std::string("tgt")), "postgres/db@EX.COM");
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(got.status().message(), HasSubstr("KDC unreachable"));
  EXPECT_THAT(got.status().message(), HasSubstr("within 200 ms"));
  EXPECT_GE(took, 200ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(s.timedOut(), 1U);
  EXPECT_EQ(s.outstanding(), 1U);  // the abandoned exchange still runs
  inner->release();
  waitOutstanding(s, 0);
  // The KDC is back: the next fetch works.
  auto again = s.fetch(SecretString(std::string("tgt")), "postgres/db@EX.COM");
  ASSERT_TRUE(again.ok()) << again.status();
}

TEST(DeadlineTicketSourceTest, TooManyOutstandingExchangesFailAtOnce) {
  auto inner = std::make_shared<GatedSource>();
  DeadlineTicketSource s(inner, 100ms, 2);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(s.fetch(SecretString(std::string("tgt")), "a/b@EX.COM").status().code(),
              absl::StatusCode::kUnavailable);
  }
  inner->waitStarted(2);
  EXPECT_EQ(s.outstanding(), 2U);
  s.setTimeout(10s);  // a refusal must not wait for the deadline
  const auto started = std::chrono::steady_clock::now();
  auto refused = s.fetch(SecretString(std::string("tgt")), "a/b@EX.COM");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("already outstanding"));
  EXPECT_EQ(s.overloaded(), 1U);
  inner->release();
  waitOutstanding(s, 0);
  EXPECT_TRUE(s.fetch(SecretString(std::string("tgt")), "a/b@EX.COM").ok());
}

TEST(DeadlineTicketSourceTest, TimeoutChangesTakeEffectForLaterFetches) {
  auto inner = std::make_shared<GatedSource>();
  DeadlineTicketSource s(inner, 5s, 4);
  s.setTimeout(100ms);
  EXPECT_EQ(s.timeout(), 100ms);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(s.fetch(SecretString(std::string("tgt")), "a/b@EX.COM").status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  inner->release();
  waitOutstanding(s, 0);
}

}  // namespace
}  // namespace gssgate::broker

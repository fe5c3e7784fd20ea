// Prometheus text exposition format (version 0.0.4): a writer for metric families and samples,
// and a lock-free latency histogram.
//
//   PrometheusText out;
//   out.family("gssgate_broker_stored_credentials", "gauge", "Credentials held.");
//   out.sample("gssgate_broker_stored_credentials", "", store.size());
//   latency.render(out, "gssgate_broker_redeem_seconds", "Redemption latency.");
//   std::string body = out.take();
//
// Thread-safety: PrometheusText is a local value. Histogram::observe() and render() may run
// concurrently from any threads (relaxed atomics: a scrape may see a sample half-counted).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gssgate {

// `value` escaped for use inside a label's double quotes (\\, \", \n).
std::string promLabelValue(std::string_view value);

class PrometheusText {
 public:
  // # HELP and # TYPE lines; `type` is counter, gauge or histogram.
  void family(std::string_view name, std::string_view type, std::string_view help);
  // One sample line. `labels` is empty or a rendered list such as `code="200",route="/"`.
  void sample(std::string_view name, std::string_view labels, uint64_t value);
  void sample(std::string_view name, std::string_view labels, int64_t value);
  void sample(std::string_view name, std::string_view labels, double value);
  std::string take() { return std::move(out_); }

 private:
  void head(std::string_view name, std::string_view labels);
  std::string out_;
};

class Histogram {
 public:
  // Upper bounds in seconds, ascending; +Inf is implied.
  explicit Histogram(std::initializer_list<double> bounds);
  // 100 µs … 10 s: request, handshake, upstream and KDC latencies.
  static Histogram latency();

  void observe(std::chrono::nanoseconds elapsed);
  // The family (HELP/TYPE) and its _bucket, _sum and _count samples.
  void render(PrometheusText& out, std::string_view name, std::string_view help) const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (the last is +Inf)
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

}  // namespace gssgate

#include "common/prometheus_text.h"

#include <fmt/format.h>

#include <algorithm>

namespace gssgate {

std::string promLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void PrometheusText::family(std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void PrometheusText::head(std::string_view name, std::string_view labels) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    out_ += labels;
    out_ += '}';
  }
  out_ += ' ';
}

void PrometheusText::sample(std::string_view name, std::string_view labels, uint64_t value) {
  head(name, labels);
  fmt::format_to(std::back_inserter(out_), "{}\n", value);
}

void PrometheusText::sample(std::string_view name, std::string_view labels, int64_t value) {
  head(name, labels);
  fmt::format_to(std::back_inserter(out_), "{}\n", value);
}

void PrometheusText::sample(std::string_view name, std::string_view labels, double value) {
  head(name, labels);
  fmt::format_to(std::back_inserter(out_), "{}\n", value);
}

Histogram::Histogram(std::initializer_list<double> bounds)
    : bounds_(bounds), buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {
  std::ranges::sort(bounds_);
}

Histogram Histogram::latency() {
  return Histogram({0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    0.5, 1, 2.5, 5, 10});
}

void Histogram::observe(std::chrono::nanoseconds elapsed) {
  const int64_t ns = std::max<int64_t>(elapsed.count(), 0);
  const double seconds = static_cast<double>(ns) / 1e9;
  const auto it = std::ranges::lower_bound(bounds_, seconds);
  buckets_[static_cast<size_t>(it - bounds_.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(ns), std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void Histogram::render(PrometheusText& out, std::string_view name, std::string_view help) const {
  out.family(name, "histogram", help);
  const std::string bucket = fmt::format("{}_bucket", name);
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    const std::string le = i < bounds_.size() ? fmt::format("{}", bounds_[i]) : "+Inf";
    out.sample(bucket, fmt::format("le=\"{}\"", le), cumulative);
  }
  out.sample(fmt::format("{}_sum", name), "",
             static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
  // _count equals the +Inf bucket, so a scrape never sees the two disagree.
  out.sample(fmt::format("{}_count", name), "", cumulative);
}

}  // namespace gssgate

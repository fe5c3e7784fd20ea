// Keep-alive connections to the upstream, one pool per worker thread (so no lock): a request
// takes an idle connection if a live one is there, else connects with a deadline, and gives
// the connection back when the exchange left it reusable.
//
//   auto conn = pool.take(key);
//   if (!conn) conn = co_await UpstreamPool::connect(executor, endpoints, timeout, ec);
//   ... exchange ...
//   if (reusable) pool.put(key, std::move(conn));
//
// Thread-safety: a pool is used only from its worker's thread.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "proxy/server/maybe_tls_stream.h"

namespace gssgate::proxy {

using UpstreamSocketStream =
    boost::beast::basic_stream<boost::asio::generic::stream_protocol, boost::asio::any_io_executor,
                               boost::beast::unlimited_rate_policy>;
using UpstreamStream = MaybeTlsStream<UpstreamSocketStream>;

class UpstreamPool {
 public:
  // `idle_gauge` (may be null; shared by the pools of all workers) tracks the idle count.
  UpstreamPool(size_t max_idle, std::chrono::milliseconds max_idle_time,
               std::atomic<int64_t>* idle_gauge = nullptr)
      : max_idle_(max_idle), max_idle_time_(max_idle_time), idle_gauge_(idle_gauge) {}
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;
  ~UpstreamPool() { clear(); }

  // An idle connection to `key` that still looks open, or nullptr.
  std::unique_ptr<UpstreamStream> take(const std::string& key);
  void put(const std::string& key, std::unique_ptr<UpstreamStream> conn);
  // Drops every idle connection (reload, drain).
  void clear() {
    idle_.clear();
    publish();
  }
  void setLimits(size_t max_idle, std::chrono::milliseconds max_idle_time) {
    max_idle_ = max_idle;
    max_idle_time_ = max_idle_time;
  }
  size_t idleCount() const { return idle_.size(); }

  // Connects to the first endpoint that accepts, within `timeout` for each attempt; with `tls`,
  // then does the TLS handshake verifying the certificate for `server_name` (also sent as
  // SNI). On failure `ec` is set (timeout → boost::beast::error::timeout) and nullptr returned.
  static boost::asio::awaitable<std::unique_ptr<UpstreamStream>> connect(
      boost::asio::any_io_executor ex,
      const std::vector<boost::asio::generic::stream_protocol::endpoint>& endpoints,
      std::chrono::milliseconds timeout, boost::system::error_code& ec,
      boost::asio::ssl::context* tls = nullptr, const std::string& server_name = {});

 private:
  // Adds the change of idle_.size() since the last call to *idle_gauge_.
  void publish() {
    const auto now = static_cast<int64_t>(idle_.size());
    if (idle_gauge_ != nullptr && now != published_) {
      idle_gauge_->fetch_add(now - published_, std::memory_order_relaxed);
    }
    published_ = now;
  }

  struct Idle {
    std::string key;
    std::unique_ptr<UpstreamStream> conn;
    std::chrono::steady_clock::time_point since;
  };
  size_t max_idle_;
  std::chrono::milliseconds max_idle_time_;
  std::deque<Idle> idle_;  // oldest first
  std::atomic<int64_t>* idle_gauge_;
  int64_t published_ = 0;
};

}  // namespace gssgate::proxy

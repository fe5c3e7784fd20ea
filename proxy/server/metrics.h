// Process-wide counters and latency histograms, rendered in Prometheus text format on the
// admin listener.
//
//   RouteStats* stats = metrics.routeStats("/app");   // once per route, at config load
//   metrics.countResponse(stats, 403);
//   metrics.countAuth("replay");
//   metrics.gssAccept().observe(elapsed);
//   std::string text = metrics.render();
//
// Thread-safety: counters and histograms are atomics; routeStats() and countRejection() take a
// mutex (config load and error paths only). Safe from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/prometheus_text.h"

namespace gssgate::proxy {

// Responses of one route, by status code. Lives as long as the Metrics that made it: a route
// keeps its counters across reloads.
struct RouteStats {
  std::array<std::atomic<uint64_t>, 600> responses{};
};

class Metrics {
 public:
  Metrics();

  // The counters of the route with this path prefix (created on first use, never freed).
  // "" is for requests no route took (bad framing, no route, header too large).
  RouteStats* routeStats(std::string_view route_path);
  RouteStats* noRoute() { return no_route_; }  // routeStats("")
  void countResponse(RouteStats* route, unsigned status);
  // `reason` is one of the authenticator's/session's stable reasons; others count as "other".
  void countAuth(std::string_view reason);
  // A response the proxy made itself (reject()), by its stable reason.
  void countRejection(std::string_view reason);
  void connectionOpened() { connections_active_.fetch_add(1, std::memory_order_relaxed); }
  void connectionClosed() { connections_active_.fetch_sub(1, std::memory_order_relaxed); }
  int64_t activeConnections() const { return connections_active_.load(std::memory_order_relaxed); }
  void countConnectionRefused() { connections_refused_.fetch_add(1, std::memory_order_relaxed); }
  void countUpstreamConnect(bool reused) {
    (reused ? upstream_reused_ : upstream_new_).fetch_add(1, std::memory_order_relaxed);
  }
  void countDeposit(bool ok) {
    (ok ? deposits_ok_ : deposits_failed_).fetch_add(1, std::memory_order_relaxed);
  }
  void countTlsHandshakeFailure() {
    tls_handshake_failures_.fetch_add(1, std::memory_order_relaxed);
  }
  void setGssAcceptCalls(uint64_t n) { gss_accept_calls_.store(n, std::memory_order_relaxed); }
  void setDirectAcceptCalls(uint64_t n) {
    direct_accept_calls_.store(n, std::memory_order_relaxed);
  }
  // Shared by the workers' upstream pools (see UpstreamPool).
  std::atomic<int64_t>* upstreamIdleGauge() { return &upstream_idle_; }

  Histogram& requestDuration() { return request_duration_; }    // header read → response sent
  Histogram& gssAccept() { return gss_accept_; }                // one gss_accept_sec_context
  Histogram& upstreamResponse() { return upstream_response_; }  // request sent → response header
  Histogram& brokerDeposit() { return broker_deposit_; }        // one deposit RPC

  std::string render() const;

 private:
  // "session": served from a session cookie; "session_stale": a genuine cookie whose broker
  // key this process no longer has (the user signs in again). "other" must stay last.
  static constexpr auto kAuthReasons = std::to_array<std::string_view>({"ok",
                                                                        "session",
                                                                        "no_header",
                                                                        "other_scheme",
                                                                        "malformed_token",
                                                                        "ntlm",
                                                                        "other_mech",
                                                                        "mechanism_not_allowed",
                                                                        "replay",
                                                                        "clock_skew",
                                                                        "bad_token",
                                                                        "no_local_name",
                                                                        "unsafe_principal",
                                                                        "privileged_local_name",
                                                                        "refused_local_name",
                                                                        "not_allowed",
                                                                        "denied",
                                                                        "realm_not_allowed",
                                                                        "continue",
                                                                        "session_stale",
                                                                        "basic_ok",
                                                                        "bad_password",
                                                                        "unknown_user",
                                                                        "password_expired",
                                                                        "verify_failed",
                                                                        "kdc_unreachable",
                                                                        "logout",
                                                                        "other"});
  mutable std::mutex mu_;  // guards routes_ and rejections_
  std::map<std::string, std::unique_ptr<RouteStats>, std::less<>> routes_;
  std::map<std::string, uint64_t, std::less<>> rejections_;
  RouteStats* no_route_ = nullptr;
  std::array<std::atomic<uint64_t>, 600> responses_{};
  std::array<std::atomic<uint64_t>, kAuthReasons.size()> auth_{};
  std::atomic<int64_t> connections_active_{0};
  std::atomic<uint64_t> connections_refused_{0};
  std::atomic<uint64_t> upstream_new_{0};
  std::atomic<uint64_t> upstream_reused_{0};
  std::atomic<int64_t> upstream_idle_{0};
  std::atomic<uint64_t> gss_accept_calls_{0};
  std::atomic<uint64_t> direct_accept_calls_{0};
  std::atomic<uint64_t> deposits_ok_{0};
  std::atomic<uint64_t> deposits_failed_{0};
  std::atomic<uint64_t> tls_handshake_failures_{0};
  Histogram request_duration_ = Histogram::latency();
  Histogram gss_accept_ = Histogram::latency();
  Histogram upstream_response_ = Histogram::latency();
  Histogram broker_deposit_ = Histogram::latency();
};

}  // namespace gssgate::proxy

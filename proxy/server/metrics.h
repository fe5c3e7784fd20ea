// Process-wide counters, rendered in Prometheus text format on the admin listener.
//
//   metrics.countResponse(403);
//   metrics.countAuth("replay");
//   std::string text = metrics.render();
//
// Thread-safety: all members are atomics or fixed after construction; safe from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace gssgate::proxy {

class Metrics {
 public:
  void countResponse(unsigned status);
  // `reason` is one of the authenticator's/session's stable reasons; others count as "other".
  void countAuth(std::string_view reason);
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
                                                                        "bad_token",
                                                                        "no_local_name",
                                                                        "unsafe_principal",
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
  std::array<std::atomic<uint64_t>, 600> responses_{};
  std::array<std::atomic<uint64_t>, kAuthReasons.size()> auth_{};
  std::atomic<int64_t> connections_active_{0};
  std::atomic<uint64_t> connections_refused_{0};
  std::atomic<uint64_t> upstream_new_{0};
  std::atomic<uint64_t> upstream_reused_{0};
  std::atomic<uint64_t> gss_accept_calls_{0};
  std::atomic<uint64_t> deposits_ok_{0};
  std::atomic<uint64_t> deposits_failed_{0};
  std::atomic<uint64_t> tls_handshake_failures_{0};
};

}  // namespace gssgate::proxy

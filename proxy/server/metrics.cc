#include "proxy/server/metrics.h"

#include "common/strings.h"

namespace gssgate::proxy {

Metrics::Metrics() : no_route_(routeStats("")) {}

RouteStats* Metrics::routeStats(std::string_view route_path) {
  const std::lock_guard lock(mu_);
  auto it = routes_.find(route_path);
  if (it == routes_.end()) {
    it = routes_.emplace(std::string(route_path), std::make_unique<RouteStats>()).first;
  }
  return it->second.get();
}

void Metrics::countResponse(RouteStats* route, unsigned status) {
  if (status >= responses_.size()) return;
  responses_[status].fetch_add(1, std::memory_order_relaxed);
  if (route != nullptr) route->responses[status].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::countAuth(std::string_view reason) {
  for (size_t i = 0; i < kAuthReasons.size(); ++i) {
    if (kAuthReasons[i] == reason) {
      auth_[i].fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  auth_.back().fetch_add(1, std::memory_order_relaxed);
}

void Metrics::countRejection(std::string_view reason) {
  const std::lock_guard lock(mu_);
  auto it = rejections_.find(reason);
  if (it == rejections_.end()) it = rejections_.emplace(std::string(reason), 0).first;
  ++it->second;
}

std::string Metrics::render() const {
  const auto load = [](const auto& a) { return a.load(std::memory_order_relaxed); };
  PrometheusText out;
  out.family("gssgate_proxy_responses_total", "counter",
             "HTTP responses sent to clients, by status.");
  for (size_t code = 100; code < responses_.size(); ++code) {
    if (uint64_t n = load(responses_[code]); n != 0) {
      out.sample("gssgate_proxy_responses_total", strCat("code=\"", code, "\""), n);
    }
  }
  {
    const std::lock_guard lock(mu_);
    out.family("gssgate_proxy_requests_total", "counter",
               "Requests by route (the configured path prefix; \"\" = none) and status.");
    for (const auto& [path, stats] : routes_) {
      for (size_t code = 100; code < stats->responses.size(); ++code) {
        if (uint64_t n = load(stats->responses[code]); n != 0) {
          out.sample("gssgate_proxy_requests_total",
                     strCat("route=\"", promLabelValue(path), "\",code=\"", code, "\""), n);
        }
      }
    }
    out.family("gssgate_proxy_rejections_total", "counter",
               "Responses the proxy made itself instead of forwarding, by reason.");
    for (const auto& [reason, n] : rejections_) {
      out.sample("gssgate_proxy_rejections_total", strCat("reason=\"", reason, "\""), n);
    }
  }
  out.family("gssgate_proxy_auth_total", "counter", "Authentication outcomes, by reason.");
  for (size_t i = 0; i < kAuthReasons.size(); ++i) {
    out.sample("gssgate_proxy_auth_total", strCat("reason=\"", kAuthReasons[i], "\""),
               load(auth_[i]));
  }
  out.family("gssgate_proxy_gss_accept_calls_total", "counter",
             "Negotiate token accepts (krb5 directly or gss_accept_sec_context).");
  out.sample("gssgate_proxy_gss_accept_calls_total", "", load(gss_accept_calls_));
  out.family("gssgate_proxy_krb5_direct_accepts_total", "counter",
             "Of those, first tokens accepted with krb5 directly (no GSS mechglue).");
  out.sample("gssgate_proxy_krb5_direct_accepts_total", "", load(direct_accept_calls_));
  out.family("gssgate_proxy_connections_active", "gauge", "Open client connections.");
  out.sample("gssgate_proxy_connections_active", "", load(connections_active_));
  out.family("gssgate_proxy_connections_refused_total", "counter",
             "Connections refused at limits.max_connections.");
  out.sample("gssgate_proxy_connections_refused_total", "", load(connections_refused_));
  out.family("gssgate_proxy_upstream_connections_total", "counter",
             "Upstream connections used: newly opened or reused from the pool.");
  out.sample("gssgate_proxy_upstream_connections_total", "kind=\"new\"", load(upstream_new_));
  out.sample("gssgate_proxy_upstream_connections_total", "kind=\"reused\"", load(upstream_reused_));
  out.family("gssgate_proxy_upstream_idle_connections", "gauge",
             "Idle upstream connections kept in the pools (all worker threads).");
  out.sample("gssgate_proxy_upstream_idle_connections", "", load(upstream_idle_));
  out.family("gssgate_proxy_broker_deposits_total", "counter",
             "Delegated credentials sent to the broker.");
  out.sample("gssgate_proxy_broker_deposits_total", "outcome=\"ok\"", load(deposits_ok_));
  out.sample("gssgate_proxy_broker_deposits_total", "outcome=\"failed\"", load(deposits_failed_));
  out.family("gssgate_proxy_tls_handshake_failures_total", "counter",
             "Client TLS handshakes that failed.");
  out.sample("gssgate_proxy_tls_handshake_failures_total", "", load(tls_handshake_failures_));
  request_duration_.render(out, "gssgate_proxy_request_duration_seconds",
                           "From a request's header to the end of its response.");
  gss_accept_.render(out, "gssgate_proxy_gss_accept_seconds",
                     "One gss_accept_sec_context call (a Negotiate handshake leg).");
  upstream_response_.render(out, "gssgate_proxy_upstream_response_seconds",
                            "From sending a request upstream to its response header.");
  broker_deposit_.render(out, "gssgate_proxy_broker_deposit_seconds",
                         "One credential deposit RPC to the broker.");
  return out.take();
}

}  // namespace gssgate::proxy

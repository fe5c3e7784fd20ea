#include "proxy/server/metrics.h"

#include "common/strings.h"

namespace gssgate::proxy {

void Metrics::countResponse(unsigned status) {
  if (status < responses_.size()) responses_[status].fetch_add(1, std::memory_order_relaxed);
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

std::string Metrics::render() const {
  std::string out;
  out += "# HELP gssgate_proxy_responses_total HTTP responses sent to clients, by status.\n";
  out += "# TYPE gssgate_proxy_responses_total counter\n";
  for (size_t code = 100; code < responses_.size(); ++code) {
    uint64_t n = responses_[code].load(std::memory_order_relaxed);
    if (n != 0) out += strCat("gssgate_proxy_responses_total{code=\"", code, "\"} ", n, "\n");
  }
  out += "# HELP gssgate_proxy_auth_total Authentication outcomes, by reason.\n";
  out += "# TYPE gssgate_proxy_auth_total counter\n";
  for (size_t i = 0; i < kAuthReasons.size(); ++i) {
    out += strCat("gssgate_proxy_auth_total{reason=\"", kAuthReasons[i], "\"} ",
                  auth_[i].load(std::memory_order_relaxed), "\n");
  }
  out += "# HELP gssgate_proxy_gss_accept_calls_total gss_accept_sec_context calls.\n";
  out += "# TYPE gssgate_proxy_gss_accept_calls_total counter\n";
  out += strCat("gssgate_proxy_gss_accept_calls_total ",
                gss_accept_calls_.load(std::memory_order_relaxed), "\n");
  out += "# HELP gssgate_proxy_connections_active Open client connections.\n";
  out += "# TYPE gssgate_proxy_connections_active gauge\n";
  out += strCat("gssgate_proxy_connections_active ",
                connections_active_.load(std::memory_order_relaxed), "\n");
  out += "# HELP gssgate_proxy_connections_refused_total Connections refused at max_connections.\n";
  out += "# TYPE gssgate_proxy_connections_refused_total counter\n";
  out += strCat("gssgate_proxy_connections_refused_total ",
                connections_refused_.load(std::memory_order_relaxed), "\n");
  out += "# HELP gssgate_proxy_upstream_connections_total Upstream connections used.\n";
  out += "# TYPE gssgate_proxy_upstream_connections_total counter\n";
  out += strCat("gssgate_proxy_upstream_connections_total{kind=\"new\"} ",
                upstream_new_.load(std::memory_order_relaxed), "\n");
  out += strCat("gssgate_proxy_upstream_connections_total{kind=\"reused\"} ",
                upstream_reused_.load(std::memory_order_relaxed), "\n");
  out += "# HELP gssgate_proxy_broker_deposits_total Delegated credentials sent to the broker.\n";
  out += "# TYPE gssgate_proxy_broker_deposits_total counter\n";
  out += strCat("gssgate_proxy_broker_deposits_total{outcome=\"ok\"} ",
                deposits_ok_.load(std::memory_order_relaxed), "\n");
  out += strCat("gssgate_proxy_broker_deposits_total{outcome=\"failed\"} ",
                deposits_failed_.load(std::memory_order_relaxed), "\n");
  out += "# HELP gssgate_proxy_tls_handshake_failures_total Client TLS handshakes that failed.\n";
  out += "# TYPE gssgate_proxy_tls_handshake_failures_total counter\n";
  out += strCat("gssgate_proxy_tls_handshake_failures_total ",
                tls_handshake_failures_.load(std::memory_order_relaxed), "\n");
  return out;
}

}  // namespace gssgate::proxy

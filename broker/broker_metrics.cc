#include "broker/broker_metrics.h"

#include "common/prometheus_text.h"

namespace gssgate::broker {

std::string renderBrokerMetrics(const BrokerCore& core) {
  const BrokerCounters& c = core.counters();
  const auto load = [](const std::atomic<uint64_t>& a) {
    return a.load(std::memory_order_relaxed);
  };
  PrometheusText out;
  out.family("gssgate_broker_deposits_total", "counter", "Credential deposits, by outcome.");
  out.sample("gssgate_broker_deposits_total", "outcome=\"ok\"", load(c.deposits_ok));
  out.sample("gssgate_broker_deposits_total", "outcome=\"refused\"", load(c.deposits_refused));
  out.family("gssgate_broker_redemptions_total", "counter",
             "Handle redemptions, by outcome: ok, not_found (handle refused), denied (policy), "
             "failed (bad service name or KDC error).");
  out.sample("gssgate_broker_redemptions_total", "outcome=\"ok\"", load(c.redeems_ok));
  out.sample("gssgate_broker_redemptions_total", "outcome=\"not_found\"",
             load(c.redeems_not_found));
  out.sample("gssgate_broker_redemptions_total", "outcome=\"denied\"", load(c.redeems_denied));
  out.sample("gssgate_broker_redemptions_total", "outcome=\"failed\"", load(c.redeems_failed));
  out.family("gssgate_broker_handles_refused_total", "counter",
             "Handles refused: malformed, forged, expired, revoked or whose credential is gone.");
  out.sample("gssgate_broker_handles_refused_total", "", load(c.redeems_not_found));
  out.family("gssgate_broker_service_ticket_cache_hits_total", "counter",
             "Redemptions answered from a cached service ticket (no KDC exchange).");
  out.sample("gssgate_broker_service_ticket_cache_hits_total", "", load(c.redeems_cached));
  out.family("gssgate_broker_revocations_total", "counter", "Credentials revoked.");
  out.sample("gssgate_broker_revocations_total", "", load(c.revocations));
  out.family("gssgate_broker_expired_total", "counter", "Expired credentials wiped by the sweep.");
  out.sample("gssgate_broker_expired_total", "", load(c.swept));
  out.family("gssgate_broker_stored_credentials", "gauge", "Delegated credentials held.");
  out.sample("gssgate_broker_stored_credentials", "", static_cast<uint64_t>(core.stored()));
  const DeadlineTicketSource& kdc = core.tickets();
  out.family("gssgate_broker_kdc_timeouts_total", "counter",
             "KDC exchanges given up: no answer within kdc_timeout, or max_kdc_requests reached.");
  out.sample("gssgate_broker_kdc_timeouts_total", "reason=\"deadline\"", kdc.timedOut());
  out.sample("gssgate_broker_kdc_timeouts_total", "reason=\"overloaded\"", kdc.overloaded());
  out.family("gssgate_broker_kdc_requests_outstanding", "gauge",
             "KDC exchanges running, timed-out ones still waiting for libkrb5 included.");
  out.sample("gssgate_broker_kdc_requests_outstanding", "",
             static_cast<uint64_t>(kdc.outstanding()));
  c.deposit_seconds.render(out, "gssgate_broker_deposit_seconds", "One deposit, parse to stored.");
  c.redeem_seconds.render(out, "gssgate_broker_redeem_seconds",
                          "One redemption, including the KDC exchange for a service ticket.");
  return out.take();
}

}  // namespace gssgate::broker

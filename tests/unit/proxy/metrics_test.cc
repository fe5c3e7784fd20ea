#include "proxy/server/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>

namespace gssgate::proxy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Metrics, FreshRenderHasHelpTypeAndZeroCounters) {
  Metrics m;
  const std::string text = m.render();
  for (const char* family :
       {"gssgate_proxy_responses_total", "gssgate_proxy_auth_total",
        "gssgate_proxy_gss_accept_calls_total", "gssgate_proxy_connections_active",
        "gssgate_proxy_connections_refused_total", "gssgate_proxy_upstream_connections_total"}) {
    EXPECT_THAT(text, HasSubstr(std::string("# HELP ") + family + " ")) << family;
    EXPECT_THAT(text, HasSubstr(std::string("# TYPE ") + family + " ")) << family;
  }
  EXPECT_THAT(text, HasSubstr("# TYPE gssgate_proxy_responses_total counter\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE gssgate_proxy_connections_active gauge\n"));
  // No response was counted: no status line at all.
  EXPECT_THAT(text, Not(HasSubstr("gssgate_proxy_responses_total{")));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_auth_total{reason=\"ok\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_gss_accept_calls_total 0\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_connections_active 0\n"));
  // Every line is a comment or "name{labels} value" ending in a newline.
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
}

TEST(Metrics, CountersAppearInRender) {
  Metrics m;
  RouteStats* app = m.routeStats("/app");
  m.countResponse(app, 200);
  m.countResponse(app, 200);
  m.countResponse(m.noRoute(), 401);
  m.countResponse(nullptr, 599);  // no route stats (a --check-config runtime): total only
  m.countResponse(app, 600);      // out of range: ignored, no crash
  m.countResponse(app, 70000);    // likewise
  m.countAuth("ok");
  m.countAuth("replay");
  m.countAuth("replay");
  m.countAuth("no_such_reason");  // counted as "other"
  m.countAuth("");
  m.connectionOpened();
  m.connectionOpened();
  m.connectionOpened();
  m.connectionClosed();
  m.countConnectionRefused();
  m.countUpstreamConnect(false);
  m.countUpstreamConnect(true);
  m.countUpstreamConnect(true);
  m.setGssAcceptCalls(42);
  EXPECT_EQ(m.activeConnections(), 2);

  const std::string text = m.render();
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_responses_total{code=\"200\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_responses_total{code=\"401\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_responses_total{code=\"599\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("code=\"600\"")));
  EXPECT_THAT(text, Not(HasSubstr("code=\"403\"")));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_auth_total{reason=\"ok\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_auth_total{reason=\"replay\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_auth_total{reason=\"other\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_auth_total{reason=\"ntlm\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_gss_accept_calls_total 42\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_connections_active 2\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_connections_refused_total 1\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_upstream_connections_total{kind=\"new\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_upstream_connections_total{kind=\"reused\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_requests_total{route=\"/app\",code=\"200\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_requests_total{route=\"\",code=\"401\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("route=\"/app\",code=\"401\"")));
}

TEST(Metrics, RouteStatsAreKeptByPathAcrossReloads) {
  Metrics m;
  RouteStats* first = m.routeStats("/a");
  EXPECT_EQ(m.routeStats("/a"), first);  // a reload with the same route keeps counting
  EXPECT_NE(m.routeStats("/b"), first);
  EXPECT_EQ(m.routeStats(""), m.noRoute());
  // A route path is configuration, but a label must stay well-formed whatever it holds.
  m.countResponse(m.routeStats("/we\"ird"), 204);
  EXPECT_THAT(m.render(), HasSubstr("route=\"/we\\\"ird\",code=\"204\"} 1\n"));
}

TEST(Metrics, RejectionsAndHistogramsRender) {
  Metrics m;
  m.countRejection("no_route");
  m.countRejection("no_route");
  m.countRejection("upstream_timeout");
  m.gssAccept().observe(std::chrono::microseconds(300));
  m.gssAccept().observe(std::chrono::seconds(20));
  std::atomic<int64_t>* idle = m.upstreamIdleGauge();
  idle->fetch_add(3);
  const std::string text = m.render();
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_rejections_total{reason=\"no_route\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_rejections_total{reason=\"upstream_timeout\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE gssgate_proxy_gss_accept_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_gss_accept_seconds_bucket{le=\"0.00025\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_gss_accept_seconds_bucket{le=\"0.0005\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_gss_accept_seconds_bucket{le=\"10\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_gss_accept_seconds_bucket{le=\"+Inf\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_gss_accept_seconds_count 2\n"));
  EXPECT_THAT(text, HasSubstr("gssgate_proxy_upstream_idle_connections 3\n"));
  for (const char* family :
       {"gssgate_proxy_request_duration_seconds", "gssgate_proxy_upstream_response_seconds",
        "gssgate_proxy_broker_deposit_seconds"}) {
    EXPECT_THAT(text, HasSubstr(std::string("# TYPE ") + family + " histogram\n")) << family;
  }
}

TEST(Metrics, EveryAuthReasonTheSessionUsesHasItsOwnSeries) {
  Metrics m;
  for (const char* reason :
       {"ok", "no_header", "other_scheme", "malformed_token", "ntlm", "other_mech",
        "mechanism_not_allowed", "replay", "clock_skew", "bad_token", "no_local_name",
        "unsafe_principal", "not_allowed", "continue"}) {
    m.countAuth(reason);
    EXPECT_THAT(m.render(),
                HasSubstr(std::string("gssgate_proxy_auth_total{reason=\"") + reason + "\"} 1\n"))
        << reason;
  }
  EXPECT_THAT(m.render(), HasSubstr("gssgate_proxy_auth_total{reason=\"other\"} 0\n"));
}

TEST(Metrics, SessionAndRouteRuleReasonsHaveTheirOwnSeries) {
  // Issue 4: cookie sign-ins, stale cookies and the deny/realm rules are told apart.
  Metrics m;
  for (const char* reason : {"session", "session_stale", "denied", "realm_not_allowed"}) {
    m.countAuth(reason);
    EXPECT_THAT(m.render(),
                HasSubstr(std::string("gssgate_proxy_auth_total{reason=\"") + reason + "\"} 1\n"))
        << reason;
  }
  EXPECT_THAT(m.render(), HasSubstr("gssgate_proxy_auth_total{reason=\"other\"} 0\n"));
}

TEST(Metrics, ActiveConnectionsGaugeGoesUpAndDown) {
  Metrics m;
  m.connectionOpened();
  m.connectionClosed();
  EXPECT_EQ(m.activeConnections(), 0);
  EXPECT_THAT(m.render(), HasSubstr("gssgate_proxy_connections_active 0\n"));
}

}  // namespace
}  // namespace gssgate::proxy

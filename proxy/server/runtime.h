// Everything a request needs that a reload may replace: the config, the authenticator built
// from its keytab, the resolved upstream endpoints, the session keys, the assertion signing
// key and the 401 page. A request takes one snapshot at its
// start and uses it to the end, so a reload never changes a request half-way.
//
//   auto rt = buildRuntime(file, &metrics);  // StatusOr; validates everything
//   server.swapRuntime(*rt);
//
// Thread-safety: immutable once built.
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/jwt_signer.h"
#include "proxy/auth/basic_verifier.h"
#include "proxy/auth/negotiate_authenticator.h"
#include "proxy/broker_client/broker_client.h"
#include "proxy/config.h"
#include "proxy/server/metrics.h"
#include "proxy/session/session_cookie.h"

namespace gssgate::proxy {

struct Runtime {
  std::shared_ptr<const ProxyConfig> config;
  std::shared_ptr<NegotiateAuthenticator> authenticator;
  std::vector<boost::asio::generic::stream_protocol::endpoint> upstream_endpoints;
  std::shared_ptr<BrokerClient> broker;                     // null when no broker is configured
  std::shared_ptr<const SessionCodec> sessions;             // null when session.lifetime is 0
  std::shared_ptr<const JwtSigner> signer;                  // signs X-Gssgate-Assertion
  std::string unauthorized_page;                            // HTML for browsers' 401; "" = built-in
  std::shared_ptr<boost::asio::ssl::context> tls;           // listener; null = plain HTTP
  std::shared_ptr<boost::asio::ssl::context> upstream_tls;  // https:// upstream; else null
  std::string upstream_server_name;                         // verified name and SNI
  // Upstream pool key: unique per load, so a reload (new CA, server_name, address) never
  // reuses a connection set up under the previous configuration.
  std::string upstream_pool_key;
  std::shared_ptr<const BasicVerifier> basic;  // null unless basic.enabled
  // Counters of config->routes[i] (same index); all null when built without metrics.
  std::vector<RouteStats*> route_stats;
};

// `metrics` (may be null, e.g. for --check-config) provides the routes' counters.
absl::StatusOr<std::shared_ptr<const Runtime>> buildRuntime(const std::string& config_file,
                                                            Metrics* metrics);

}  // namespace gssgate::proxy

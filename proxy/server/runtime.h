// Everything a request needs that a reload may replace: the config, the authenticator built
// from its keytab, and the resolved upstream endpoints. A request takes one snapshot at its
// start and uses it to the end, so a reload never changes a request half-way.
//
//   auto rt = buildRuntime(file);            // StatusOr; validates everything
//   server.swapRuntime(*rt);
//
// Thread-safety: immutable once built.
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proxy/auth/negotiate_authenticator.h"
#include "proxy/broker_client/broker_client.h"
#include "proxy/config.h"

namespace gssgate::proxy {

struct Runtime {
  std::shared_ptr<const ProxyConfig> config;
  std::shared_ptr<NegotiateAuthenticator> authenticator;
  std::vector<boost::asio::generic::stream_protocol::endpoint> upstream_endpoints;
  std::shared_ptr<BrokerClient> broker;  // null when no broker is configured
};

absl::StatusOr<std::shared_ptr<const Runtime>> buildRuntime(const std::string& config_file);

}  // namespace gssgate::proxy

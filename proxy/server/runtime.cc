#include "proxy/server/runtime.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "common/strings.h"

namespace gssgate::proxy {

namespace net = boost::asio;

absl::StatusOr<std::shared_ptr<const Runtime>> buildRuntime(const std::string& config_file) {
  auto cfg = loadProxyConfig(config_file);
  if (!cfg.ok()) return cfg.status();
  auto rt = std::make_shared<Runtime>();
  rt->config = *cfg;
  auto auth = NegotiateAuthenticator::create(**cfg);
  if (!auth.ok()) {
    return absl::Status(auth.status().code(), strCat(config_file, ": ", messageOf(auth.status())));
  }
  rt->authenticator = *auth;

  const UpstreamTarget& up = (*cfg)->upstream;
  if (up.kind == UpstreamTarget::Kind::kUnix) {
    rt->upstream_endpoints.emplace_back(net::local::stream_protocol::endpoint(up.unix_path));
  } else {
    // Resolved once per load (startup and SIGHUP), not per request.
    net::io_context ioc;
    net::ip::tcp::resolver resolver(ioc);
    boost::system::error_code ec;
    auto results = resolver.resolve(up.tcp.host, std::to_string(up.tcp.port),
                                    net::ip::tcp::resolver::numeric_service, ec);
    if (ec || results.empty()) {
      return absl::FailedPreconditionError(strCat(config_file, ": key 'upstream': cannot resolve '",
                                                  up.tcp.host,
                                                  "': ", ec ? ec.message() : "no addresses"));
    }
    for (const auto& r : results) rt->upstream_endpoints.emplace_back(r.endpoint());
  }
  if (!(*cfg)->broker.empty()) {
    // The channel connects lazily: a broker that is down now only costs handles, not sign-ins.
    rt->broker = makeGrpcBrokerClient((*cfg)->broker, (*cfg)->timeouts.broker);
  }
  return std::shared_ptr<const Runtime>(std::move(rt));
}

}  // namespace gssgate::proxy

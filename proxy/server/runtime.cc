#include "proxy/server/runtime.h"

#include <sys/stat.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <fstream>
#include <mutex>
#include <sstream>

#include "common/logging.h"
#include "common/strings.h"
#include "proxy/server/tls_context.h"

namespace gssgate::proxy {

namespace net = boost::asio;

namespace {

// Generated keys are made once per process and kept across reloads: a SIGHUP must not sign
// everybody out or change the key backends have fetched.
std::shared_ptr<const JwtSigner> generatedSigner() {
  static std::once_flag once;
  static std::shared_ptr<const JwtSigner> signer;
  std::call_once(once, [] { signer = JwtSigner::generateEd25519(); });
  return signer;
}

constexpr size_t kMaxPageBytes = 1 << 20;

// An error from building one part of the runtime, with the config file (and key) in front.
absl::Status inConfig(const std::string& file, std::string_view what, const absl::Status& st) {
  return absl::Status(st.code(), strCat(file, ": ", what, messageOf(st)));
}

// Key files should be readable by the proxy's user only; say so (not fatal: a Kubernetes
// secret volume is 0644 unless defaultMode is set).
void warnIfReadableByOthers(const std::string& file, const char* key) {
  struct stat st {};
  if (file.empty() || ::stat(file.c_str(), &st) != 0) return;
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    logger("proxy")->warn("{} {} is accessible to group/others (mode {:o}); make it 0600", key,
                          file, st.st_mode & 07777);
  }
}

absl::StatusOr<std::string> readPage(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return absl::NotFoundError(strCat("unauthorized_page ", file, ": cannot read"));
  std::ostringstream buf;
  buf << in.rdbuf();
  std::string page = std::move(buf).str();
  if (page.size() > kMaxPageBytes) {
    return absl::InvalidArgumentError(
        strCat("unauthorized_page ", file, ": larger than 1 MiB (", page.size(), " bytes)"));
  }
  return page;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Runtime>> buildRuntime(const std::string& config_file,
                                                            Metrics* metrics) {
  auto cfg = loadProxyConfig(config_file);
  if (!cfg.ok()) return cfg.status();
  auto rt = std::make_shared<Runtime>();
  rt->config = *cfg;
  auto auth = NegotiateAuthenticator::create(**cfg);
  if (!auth.ok()) {
    return inConfig(config_file, "", auth.status());
  }
  rt->authenticator = *auth;
  for (const Route& route : (*cfg)->routes) {
    rt->route_stats.push_back(metrics != nullptr ? metrics->routeStats(route.path) : nullptr);
  }

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
  const ProxyConfig& c = **cfg;
  if (c.session.lifetime.count() > 0) {
    absl::StatusOr<std::shared_ptr<const SessionKeys>> keys =
        c.session.key_file.empty() ? SessionKeys::generated()
                                   : SessionKeys::load(c.session.key_file);
    warnIfReadableByOthers(c.session.key_file, "session.key_file");
    if (!keys.ok()) {
      return inConfig(config_file, "session.key_file: ", keys.status());
    }
    rt->sessions = std::make_shared<const SessionCodec>(*keys);
  }
  if (c.assertion.key_file.empty()) {
    rt->signer = generatedSigner();
  } else {
    warnIfReadableByOthers(c.assertion.key_file, "assertion.key_file");
    auto signer = JwtSigner::fromPemFile(c.assertion.key_file);
    if (!signer.ok()) {
      return inConfig(config_file, "assertion.key_file: ", signer.status());
    }
    rt->signer = std::move(*signer);
  }
  if (!c.unauthorized_page.empty()) {
    auto page = readPage(c.unauthorized_page);
    if (!page.ok()) {
      return inConfig(config_file, "", page.status());
    }
    rt->unauthorized_page = std::move(*page);
  }
  if (c.tls) {
    auto tls = makeServerTlsContext(*c.tls);
    if (!tls.ok()) {
      return inConfig(config_file, "", tls.status());
    }
    rt->tls = std::move(*tls);
  }
  if (c.basic.enabled) {
    auto basic = BasicVerifier::create(c.keytab, c.acceptor);
    if (!basic.ok()) {
      return inConfig(config_file, "basic: ", basic.status());
    }
    rt->basic = std::move(*basic);
  }
  {
    static std::atomic<uint64_t> loads{0};
    rt->upstream_pool_key = strCat(c.upstream.original, "#", loads.fetch_add(1) + 1);
  }
  if (c.upstream.https) {
    auto tls = makeUpstreamTlsContext(c.upstream_tls);
    if (!tls.ok()) {
      return inConfig(config_file, "", tls.status());
    }
    rt->upstream_tls = std::move(*tls);
    rt->upstream_server_name =
        c.upstream_tls.server_name.empty() ? c.upstream.tcp.host : c.upstream_tls.server_name;
  }
  if (!(*cfg)->broker.empty()) {
    // The channel connects lazily: a broker that is down now only costs handles, not sign-ins.
    rt->broker = makeGrpcBrokerClient((*cfg)->broker, (*cfg)->timeouts.broker);
  }
  return std::shared_ptr<const Runtime>(std::move(rt));
}

}  // namespace gssgate::proxy

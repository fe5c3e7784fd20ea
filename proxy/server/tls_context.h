// OpenSSL contexts for the proxy: the listener's (certificate chain + key, TLS 1.2 or newer,
// no renegotiation, no compression) and the one that verifies https:// upstreams (a CA
// bundle or the system trust store; the peer's name is checked on every connection).
//
//   auto server = makeServerTlsContext(cfg.tls);              // StatusOr; clear file errors
//   auto client = makeUpstreamTlsContext(cfg.upstream_tls);
//
// Built per configuration load, so SIGHUP picks up a renewed certificate for new connections
// while open ones keep the context they started with.
//
// Thread-safety: a built context is only read afterwards; sharing it between threads is safe.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "absl/status/statusor.h"
#include "proxy/config.h"

namespace gssgate::proxy {

absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> makeServerTlsContext(
    const TlsOptions& opts);
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> makeUpstreamTlsContext(
    const UpstreamTlsOptions& opts);

}  // namespace gssgate::proxy

#include "proxy/upstream/upstream_pool.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>

namespace gssgate::proxy {

namespace net = boost::asio;

namespace {

// A pooled connection the upstream has closed reads as EOF; data we did not ask for means
// the connection is out of step. Either way it must not carry another request.
// Linux "self-connect": a connect to a free port of the ephemeral range on this host can pick that
// same port as its source and complete (simultaneous open); the proxy would then read its own
// request as the upstream's response. Seen in tests with a restarting upstream; a refused
// connection is the honest answer.
bool connectedToItself(int fd) {
  sockaddr_storage local{};
  sockaddr_storage peer{};
  socklen_t llen = sizeof local;
  socklen_t plen = sizeof peer;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) != 0 ||
      ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &plen) != 0) {
    return false;
  }
  return llen == plen && std::memcmp(&local, &peer, llen) == 0;
}

bool looksOpen(UpstreamStream& s) {
  char byte = 0;
  ssize_t n = ::recv(s.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

std::unique_ptr<UpstreamStream> UpstreamPool::take(const std::string& key) {
  const auto now = std::chrono::steady_clock::now();
  // Newest first: it is the most likely to be alive.
  for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
    if (it->key != key) continue;
    auto conn = std::move(it->conn);
    const bool fresh = now - it->since < max_idle_time_;
    idle_.erase(std::next(it).base());
    publish();
    if (fresh && looksOpen(*conn)) return conn;
    return nullptr;  // a stale one: the caller connects anew
  }
  return nullptr;
}

void UpstreamPool::put(const std::string& key, std::unique_ptr<UpstreamStream> conn) {
  if (max_idle_ == 0) return;
  const auto now = std::chrono::steady_clock::now();
  while (!idle_.empty() &&
         (idle_.size() >= max_idle_ || now - idle_.front().since >= max_idle_time_)) {
    idle_.pop_front();
  }
  idle_.push_back(Idle{key, std::move(conn), now});
  publish();
}

net::awaitable<std::unique_ptr<UpstreamStream>> UpstreamPool::connect(
    net::any_io_executor ex, const std::vector<net::generic::stream_protocol::endpoint>& endpoints,
    std::chrono::milliseconds timeout, boost::system::error_code& ec, net::ssl::context* tls,
    const std::string& server_name) {
  ec = net::error::host_not_found;
  for (const auto& ep : endpoints) {
    auto stream = std::make_unique<UpstreamStream>(ex);
    stream->expires_after(timeout);
    auto [err] = co_await stream->lowest().async_connect(ep, net::as_tuple(net::use_awaitable));
    if (!err && (ep.protocol().family() == AF_INET || ep.protocol().family() == AF_INET6) &&
        connectedToItself(stream->socket().native_handle())) {
      err = net::error::connection_refused;
    }
    if (!err) {
      if (ep.protocol().family() == AF_INET || ep.protocol().family() == AF_INET6) {
        int one = 1;
        ::setsockopt(stream->socket().native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      }
      if (tls != nullptr) {
        stream->startTls(*tls);
        SSL* ssl = stream->tls().native_handle();
        boost::system::error_code not_ip;
        (void)net::ip::make_address(server_name, not_ip);
        if (not_ip) SSL_set_tlsext_host_name(ssl, server_name.c_str());  // RFC 6066: names only
        stream->tls().set_verify_callback(net::ssl::host_name_verification(server_name));
        auto [herr] = co_await stream->tls().async_handshake(net::ssl::stream_base::client,
                                                             net::as_tuple(net::use_awaitable));
        if (herr) {
          ec = herr;
          continue;  // a certificate or handshake failure: try the next address, then fail
        }
      }
      ec = {};
      co_return stream;
    }
    ec = err;
  }
  co_return nullptr;
}

}  // namespace gssgate::proxy

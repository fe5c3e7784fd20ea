#include "proxy/server/server.h"

#include <signal.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "common/logging.h"
#include "common/strings.h"
#include "proxy/server/http_session.h"

namespace gssgate::proxy {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::as_tuple;
using net::use_awaitable;
using tcp = net::ip::tcp;

namespace {

const std::shared_ptr<spdlog::logger>& log() {
  static const auto l = logger("proxy");
  return l;
}

// Binds a listening socket; throws boost::system::system_error with a readable message.
tcp::acceptor bindAcceptor(net::io_context& ctx, const HostPort& hp, const char* what) {
  boost::system::error_code ec;
  auto addr = net::ip::make_address(hp.host, ec);
  if (ec) {
    throw std::runtime_error(strCat(what, " '", hp.text(), "': host must be an IP address"));
  }
  tcp::endpoint ep(addr, hp.port);
  tcp::acceptor acceptor(ctx);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error(strCat("cannot listen on ", what, " ", hp.text(), ": ", ec.message()));
  return acceptor;
}

}  // namespace

Server::Server(std::string config_file, std::shared_ptr<const Runtime> runtime)
    : config_file_(std::move(config_file)), runtime_(std::move(runtime)) {}

Server::~Server() = default;

std::shared_ptr<const Runtime> Server::current() const {
  std::lock_guard lock(mu_);
  return runtime_;
}

const std::shared_ptr<const Runtime>& Server::runtime(Worker& worker) {
  const uint64_t gen = generation_.load(std::memory_order_acquire);
  if (worker.runtime_generation != gen) {
    worker.runtime = current();
    worker.runtime_generation = gen;
    worker.pool.setLimits(worker.runtime->config->upstream_max_idle,
                          worker.runtime->config->timeouts.upstream_idle);
    worker.assertions.clear();
    worker.session_cache.clear();  // the session keys may have changed
  }
  return worker.runtime;
}

int Server::run() {
  const auto rt = current();
  const auto& cfg = *rt->config;
  try {
    acceptor_.emplace(bindAcceptor(control_, cfg.listen, "listen"));
    if (cfg.admin_listen) {
      admin_acceptor_.emplace(bindAcceptor(control_, *cfg.admin_listen, "admin_listen"));
    }
  } catch (const std::exception& e) {
    log()->critical("{}", e.what());
    return 1;
  }
  ::signal(SIGPIPE, SIG_IGN);

  for (unsigned i = 0; i < cfg.threads; ++i) workers_.push_back(std::make_unique<Worker>(cfg));
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
  for (auto& w : workers_) {
    guards.push_back(net::make_work_guard(w->ctx));
    w->thread = std::thread([ctx = &w->ctx] { ctx->run(); });
  }

  net::co_spawn(control_, acceptLoop(*acceptor_), net::detached);
  if (admin_acceptor_) net::co_spawn(control_, adminLoop(*admin_acceptor_), net::detached);
  net::co_spawn(control_, signalLoop(), net::detached);
  ready_.store(true, std::memory_order_release);
  log()->info("gssgate-proxy {} listening on {} ({} threads), upstream {}", GSSGATE_VERSION,
              cfg.listen.text(), cfg.threads, cfg.upstream.original);
  if (cfg.admin_listen) log()->info("admin endpoint on {}", cfg.admin_listen->text());

  control_.run();

  guards.clear();
  blocking_pool_.join();
  for (auto& w : workers_) w->ctx.stop();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  log()->info("stopped");
  return exit_code_;
}

net::awaitable<void> Server::acceptLoop(tcp::acceptor& acceptor) {
  size_t next = 0;
  while (!draining()) {
    Worker& w = *workers_[next++ % workers_.size()];
    auto [ec, socket] = co_await acceptor.async_accept(w.ctx, as_tuple(use_awaitable));
    if (ec) {
      if (ec == net::error::operation_aborted || draining()) break;
      log()->warn("accept failed: {}", ec.message());
      // Out of descriptors (EMFILE) and similar: back off instead of spinning.
      net::steady_timer t(control_, std::chrono::milliseconds(50));
      co_await t.async_wait(as_tuple(use_awaitable));
      continue;
    }
    const auto limit = current()->config->limits.max_connections;
    if (static_cast<uint64_t>(metrics_.activeConnections()) >= limit) {
      metrics_.countConnectionRefused();
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    net::co_spawn(
        w.ctx,
        [this, &w, s = std::move(socket)]() mutable -> net::awaitable<void> {
          HttpSession session(*this, w, std::move(s));
          co_await session.run();
        },
        net::detached);
  }
}

net::awaitable<void> Server::adminLoop(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(as_tuple(use_awaitable));
    if (ec) {
      if (ec == net::error::operation_aborted) break;
      net::steady_timer t(control_, std::chrono::milliseconds(50));
      co_await t.async_wait(as_tuple(use_awaitable));
      continue;
    }
    net::co_spawn(control_, adminSession(std::move(socket)), net::detached);
  }
}

net::awaitable<void> Server::adminSession(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer(16 * 1024);
  for (;;) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(8 * 1024);
    stream.expires_after(std::chrono::seconds(10));
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, as_tuple(use_awaitable));
    if (ec) break;
    const auto& req = parser.get();
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.set(http::field::cache_control, "no-store");
    const auto target = req.target();
    const bool ready = ready_.load(std::memory_order_acquire) && !draining();
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.result(http::status::method_not_allowed);
      res.body() = "method not allowed\n";
    } else if (target == "/healthz") {
      res.body() = "ok\n";
    } else if (target == "/readyz") {
      res.result(ready ? http::status::ok : http::status::service_unavailable);
      res.body() = ready ? "ready\n" : "not ready\n";
    } else if (target == "/.well-known/jwks.json") {
      // The public key(s) backends use to verify X-Gssgate-Assertion.
      res.set(http::field::content_type, "application/json");
      res.set(http::field::cache_control, "max-age=60");
      res.body() = current()->signer->jwks();
    } else if (target == "/metrics") {
      const auto rt = current();
      metrics_.setGssAcceptCalls(rt->authenticator->acceptCalls());
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = metrics_.render();
    } else {
      res.result(http::status::not_found);
      res.body() = "not found\n";
    }
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, res, as_tuple(use_awaitable));
    if (wec || !req.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

net::awaitable<void> Server::signalLoop() {
  net::signal_set signals(control_, SIGTERM, SIGINT, SIGHUP);
  for (;;) {
    auto [ec, sig] = co_await signals.async_wait(as_tuple(use_awaitable));
    if (ec) co_return;
    if (sig == SIGHUP) {
      reload();
      continue;
    }
    log()->info("received {}, draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    co_await drain();
    co_return;
  }
}

void Server::reload() {
  auto next = buildRuntime(config_file_);
  if (!next.ok()) {
    log()->error("reload refused, keeping the running configuration: {}",
                 printable(messageOf(next.status())));
    return;
  }
  const auto old = current();
  const auto& a = *old->config;
  const auto& b = *(*next)->config;
  if (a.listen.text() != b.listen.text() || a.threads != b.threads ||
      a.admin_listen.has_value() != b.admin_listen.has_value() ||
      (a.admin_listen && a.admin_listen->text() != b.admin_listen->text())) {
    log()->warn(
        "reload: changes to listen, admin_listen or threads take effect only after a "
        "restart");
  }
  (void)setupLogging(b.log);
  {
    std::lock_guard lock(mu_);
    runtime_ = *next;
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
  log()->info("configuration reloaded from {}", config_file_);
}

net::awaitable<void> Server::drain() {
  draining_.store(true, std::memory_order_release);
  boost::system::error_code ignored;
  if (acceptor_) acceptor_->close(ignored);
  if (admin_acceptor_) admin_acceptor_->close(ignored);
  for (auto& w : workers_) {
    net::post(w->ctx, [wp = w.get()] {
      // Copy: onDrain may end a session, which unregisters it from the list.
      std::vector<HttpSession*> sessions(wp->sessions.begin(), wp->sessions.end());
      for (auto* s : sessions) s->onDrain();
      wp->pool.clear();
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + current()->config->timeouts.drain;
  net::steady_timer timer(control_);
  while (metrics_.activeConnections() > 0 && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(as_tuple(use_awaitable));
    // Sessions that finished a request since the last pass close on their own; idle ones
    // that were mid-read when drain began are closed here.
    for (auto& w : workers_) {
      net::post(w->ctx, [wp = w.get()] {
        std::vector<HttpSession*> sessions(wp->sessions.begin(), wp->sessions.end());
        for (auto* s : sessions) s->onDrain();
      });
    }
  }
  if (metrics_.activeConnections() > 0) {
    log()->warn("drain timeout: closing {} connection(s) still open", metrics_.activeConnections());
  }
  control_.stop();
}

}  // namespace gssgate::proxy

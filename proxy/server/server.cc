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
#include <optional>

#include "common/logging.h"
#include "common/strings.h"
#include "proxy/server/descriptor_limit.h"
#include "proxy/server/http_session.h"

namespace gssgate::proxy {

namespace net = boost::asio;
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

Server::Server(std::string config_file, std::shared_ptr<const Runtime> runtime, Metrics& metrics)
    : config_file_(std::move(config_file)), metrics_(metrics), runtime_(std::move(runtime)) {}

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
  } catch (const std::exception& e) {
    log()->critical("{}", e.what());
    return 1;
  }
  if (cfg.admin_listen) {
    auto started = AdminServer::start(
        *cfg.admin_listen, [this](std::string_view target) { return this->admin(target); });
    if (!started.ok()) {
      log()->critical("{}", std::string(started.status().message()));
      return 1;
    }
    admin_ = std::move(*started);
  }
  ::signal(SIGPIPE, SIG_IGN);
  applyDescriptorPlan(cfg.limits.max_connections);

  for (unsigned i = 0; i < cfg.threads; ++i)
    workers_.push_back(std::make_unique<Worker>(cfg, metrics_));
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
  for (auto& w : workers_) {
    guards.push_back(net::make_work_guard(w->ctx));
    w->thread = std::thread([ctx = &w->ctx] { ctx->run(); });
  }

  net::co_spawn(control_, acceptLoop(*acceptor_), net::detached);
  net::co_spawn(control_, signalLoop(), net::detached);
  ready_.store(true, std::memory_order_release);
  log()->info("gssgate-proxy {} listening on {} ({} threads), upstream {}", GSSGATE_VERSION,
              cfg.listen.text(), cfg.threads, cfg.upstream.original);
  if (cfg.admin_listen) log()->info("admin endpoint on {}", cfg.admin_listen->text());

  control_.run();

  if (admin_) admin_->stop();  // /readyz said 503 during the drain; now the port closes
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
  // Failed accepts since the last log line: out of descriptors, the loop retries every 50 ms,
  // and one line per retry would flood the log.
  uint64_t failures = 0;
  std::optional<std::chrono::steady_clock::time_point> lastLogged;
  while (!draining()) {
    Worker& w = *workers_[next++ % workers_.size()];
    auto [ec, socket] = co_await acceptor.async_accept(w.ctx, as_tuple(use_awaitable));
    if (ec) {
      if (ec == net::error::operation_aborted || draining()) break;
      ++failures;
      if (const auto now = std::chrono::steady_clock::now();
          !lastLogged || now - *lastLogged >= std::chrono::seconds(5)) {
        log()->warn("accept failed: {} ({}x since the last such line; retrying every 50 ms)",
                    ec.message(), failures);
        lastLogged = now;
        failures = 0;
      }
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
    // Counted here, not when the session starts on its worker thread: a burst of accepts
    // must see the connections accepted just before it, or it overshoots max_connections
    // (and the descriptors) while the workers catch up. ~HttpSession counts it closed.
    metrics_.connectionOpened();
    net::co_spawn(
        w.ctx,
        [this, &w, s = std::move(socket)]() mutable -> net::awaitable<void> {
          HttpSession session(*this, w, std::move(s));
          co_await session.run();
        },
        net::detached);
  }
}

AdminResponse Server::admin(std::string_view target) {
  if (target == "/healthz") return {.body = "ok\n"};
  if (target == "/readyz") {
    // 503 while draining, so a load balancer stops sending before the listener closes.
    if (ready_.load(std::memory_order_acquire) && !draining()) return {.body = "ready\n"};
    return {.status = 503, .body = "not ready\n"};
  }
  if (target == "/.well-known/jwks.json") {
    // The public key(s) backends use to verify X-Gssgate-Assertion.
    return {.content_type = "application/json",
            .cache_control = "max-age=60",
            .body = current()->signer->jwks()};
  }
  if (target == "/metrics") {
    metrics_.setGssAcceptCalls(current()->authenticator->acceptCalls());
    metrics_.setDirectAcceptCalls(current()->authenticator->directAcceptCalls());
    return {.content_type = std::string(kPrometheusContentType), .body = metrics_.render()};
  }
  return {.status = 404, .body = "not found\n"};
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
  auto next = buildRuntime(config_file_, &metrics_);
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

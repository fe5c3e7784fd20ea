// The proxy process: a control thread (signals, listener, admin endpoint, reload, drain) and
// N worker threads, each with its own io_context, upstream pool and session registry, so a
// connection lives on one thread for its whole life and needs no locks.
//
//   Metrics metrics;
//   auto rt = buildRuntime(file, &metrics);
//   Server server(file, *rt, metrics);
//   return server.run();   // until SIGTERM/SIGINT has drained; returns the exit code
//
// Thread-safety: run() is called once from main. runtime() is safe from worker threads.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/admin_server.h"
#include "proxy/auth/assertion_cache.h"
#include "proxy/broker_client/handle_minter.h"
#include "proxy/server/metrics.h"
#include "proxy/server/runtime.h"
#include "proxy/session/session_cache.h"
#include "proxy/session/session_revocations.h"
#include "proxy/upstream/upstream_pool.h"

namespace gssgate::proxy {

class HttpSession;

// One worker thread. Members are touched only from that thread, except `ctx` (posting).
struct Worker {
  Worker(const ProxyConfig& cfg, Metrics& metrics)
      : pool(cfg.upstream_max_idle, cfg.timeouts.upstream_idle, metrics.upstreamIdleGauge()) {}
  // Declaration order matters for destruction: the context (and with it the sessions'
  // coroutine frames) goes before the registry, the pool's sockets before the context.
  std::list<HttpSession*> sessions;
  boost::asio::io_context ctx{1};
  UpstreamPool pool;
  AssertionCache assertions;
  SessionCache session_cache;
  uint64_t runtime_generation = 0;
  std::shared_ptr<const Runtime> runtime;
  std::thread thread;
};

class Server {
 public:
  Server(std::string config_file, std::shared_ptr<const Runtime> runtime, Metrics& metrics);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();

  int run();

  // The current runtime as seen by `worker` (refreshed after a reload). Worker thread only.
  const std::shared_ptr<const Runtime>& runtime(Worker& worker);
  Metrics& metrics() { return metrics_; }
  bool draining() const { return draining_.load(std::memory_order_acquire); }
  // Runs blocking broker RPCs off the network threads.
  boost::asio::thread_pool& blockingPool() { return blocking_pool_; }
  // Broker handle keys learned at deposits (kept across reloads).
  HandleMinter& handleMinter() { return minter_; }
  SessionRevocations& revocations() { return revocations_; }

 private:
  boost::asio::awaitable<void> acceptLoop(boost::asio::ip::tcp::acceptor& acceptor);
  // /healthz, /readyz, /metrics and /.well-known/jwks.json (on the admin thread).
  AdminResponse admin(std::string_view target);
  boost::asio::awaitable<void> signalLoop();
  void reload();
  boost::asio::awaitable<void> drain();
  std::shared_ptr<const Runtime> current() const;

  // Declaration order is destruction order reversed: the control context (whose pending
  // accept may hold a socket of a worker's context) must go before the workers, and the
  // workers (whose sessions count themselves out of metrics_) before metrics_ (the caller's).
  std::string config_file_;
  Metrics& metrics_;
  HandleMinter minter_;
  SessionRevocations revocations_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> ready_{false};
  std::atomic<uint64_t> generation_{1};
  mutable std::mutex mu_;  // guards runtime_
  std::shared_ptr<const Runtime> runtime_;
  int exit_code_ = 0;
  boost::asio::thread_pool blocking_pool_{2};
  std::vector<std::unique_ptr<Worker>> workers_;
  boost::asio::io_context control_{1};
  std::optional<boost::asio::ip::tcp::acceptor> acceptor_;
  // Last member: stopped (and its thread joined) first, before anything its handler reads.
  std::unique_ptr<AdminServer> admin_;
};

}  // namespace gssgate::proxy

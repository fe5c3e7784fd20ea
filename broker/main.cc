// gssgate-broker: wiring only — arguments, config, store, the two gRPC servers and their
// Unix sockets, the sweeper, signals.
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <variant>

#include "broker/broker_core.h"
#include "broker/broker_metrics.h"
#include "broker/config.h"
#include "broker/service/grpc_services.h"
#include "broker/service/peer_registry.h"
#include "broker/service/unix_listener.h"
#include "common/admin_server.h"
#include "common/daemon_args.h"
#include "common/krb5_thread_context.h"
#include "common/logging.h"
#include "common/strings.h"

namespace {

using gssgate::broker::BrokerConfig;

constexpr const char* kUsage =
    "usage: gssgate-broker --config FILE [--check-config]\n"
    "       gssgate-broker --version\n"
    "Signals: SIGHUP reloads policy, TTLs and log level; SIGTERM stops cleanly.\n";

int64_t now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::unique_ptr<grpc::Server> buildServer(const BrokerConfig& cfg,
                                          std::vector<grpc::Service*> services) {
  grpc::ServerBuilder builder;
  builder.SetMaxReceiveMessageSize(static_cast<int>(cfg.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(cfg.max_message_bytes));
  for (auto* s : services) builder.RegisterService(s);
  return builder.BuildAndStart();
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = gssgate::parseDaemonArgs(argc, argv, "gssgate-broker", kUsage);
  if (auto* code = std::get_if<int>(&parsed)) return *code;
  const std::string config = std::get<gssgate::DaemonArgs>(parsed).config;
  const bool check = std::get<gssgate::DaemonArgs>(parsed).check_only;
  auto cfg = gssgate::broker::loadBrokerConfig(config);
  if (!cfg.ok()) {
    std::cerr << gssgate::messageOf(cfg.status()) << "\n";
    return 1;
  }
  auto key = gssgate::broker::loadHandleKey((*cfg)->handle_key_file);
  if (!key.ok()) {
    std::cerr << config << ": " << gssgate::messageOf(key.status()) << "\n";
    return 1;
  }
  std::unique_ptr<gssgate::broker::CredentialStore> store;
  if ((*cfg)->store_dir.empty()) {
    store = std::make_unique<gssgate::broker::MemoryStore>((*cfg)->max_credentials);
  } else {
    auto dir = gssgate::broker::DirStore::open((*cfg)->store_dir, (*cfg)->max_credentials, now());
    if (!dir.ok()) {
      std::cerr << config << ": key 'store': " << gssgate::messageOf(dir.status()) << "\n";
      return 1;
    }
    store = std::move(*dir);
  }
  if (check) {
    std::printf("config OK: %s\n", config.c_str());
    return 0;
  }
  if (auto st = gssgate::setupLogging((*cfg)->log); !st.ok()) {
    std::cerr << gssgate::messageOf(st) << "\n";
    return 1;
  }
  auto log = gssgate::logger("broker");
  (void)gssgate::threadKrb5Context();  // keeps krb5.conf parsed for the process (see proxy)

  // Signals are taken synchronously by this thread (sigwait); block them everywhere first.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  const size_t loaded = store->size();
  gssgate::broker::BrokerCore core(*cfg, std::move(store), std::move(*key));
  gssgate::broker::PeerRegistry peers;
  gssgate::broker::DepositService depositService(core, peers);
  gssgate::broker::AdminService adminService(core, peers);
  gssgate::broker::BackendService backendService(core, peers);
  grpc::EnableDefaultHealthCheckService(true);
  auto depositServer = buildServer(**cfg, {&depositService, &adminService});
  auto backendServer = buildServer(**cfg, {&backendService});
  if (!depositServer || !backendServer) {
    log->critical("cannot start the gRPC servers");
    return 1;
  }
  gssgate::broker::UnixListener depositListener((*cfg)->deposit, depositServer.get(), peers);
  gssgate::broker::UnixListener backendListener((*cfg)->backend, backendServer.get(), peers);
  for (auto* l : {&depositListener, &backendListener}) {
    if (auto st = l->start(); !st.ok()) {
      log->critical("{}", gssgate::messageOf(st));
      return 1;
    }
  }
  depositServer->GetHealthCheckService()->SetServingStatus(true);
  backendServer->GetHealthCheckService()->SetServingStatus(true);
  std::atomic<bool> ready{true};
  std::unique_ptr<gssgate::AdminServer> admin;
  if ((*cfg)->admin_listen) {
    auto started = gssgate::AdminServer::start(*(*cfg)->admin_listen, [&](std::string_view target) {
      if (target == "/healthz") return gssgate::AdminResponse{.body = "ok\n"};
      if (target == "/readyz") {
        if (ready.load(std::memory_order_acquire)) {
          return gssgate::AdminResponse{.body = "ready\n"};
        }
        return gssgate::AdminResponse{.status = 503, .body = "not ready\n"};
      }
      if (target == "/metrics") {
        return gssgate::AdminResponse{.content_type = std::string(gssgate::kPrometheusContentType),
                                      .body = gssgate::broker::renderBrokerMetrics(core)};
      }
      return gssgate::AdminResponse{.status = 404, .body = "not found\n"};
    });
    if (!started.ok()) {
      log->critical("{}", gssgate::messageOf(started.status()));
      return 1;
    }
    admin = std::move(*started);
    log->info("admin endpoint on {}", (*cfg)->admin_listen->text());
  }
  log->info("gssgate-broker {} serving backends on {} and the proxy on {}; store: {} ({} loaded)",
            GSSGATE_VERSION, (*cfg)->backend.path, (*cfg)->deposit.path,
            (*cfg)->store_dir.empty() ? "memory" : "dir:" + (*cfg)->store_dir, loaded);
  if ((*cfg)->policy.empty()) {
    log->warn("policy is empty: no backend can redeem any credential");
  }

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::thread sweeper([&] {
    std::unique_lock lock(mu);
    while (!stopping) {
      cv.wait_for(lock, core.config()->sweep_interval);
      if (stopping) break;
      lock.unlock();
      core.sweep();
      lock.lock();
    }
  });

  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      auto next = gssgate::broker::loadBrokerConfig(config);
      if (!next.ok()) {
        log->error("reload refused, keeping the running configuration: {}",
                   gssgate::printable(gssgate::messageOf(next.status())));
        continue;
      }
      const auto& old = *core.config();
      if ((*next)->backend.path != old.backend.path || (*next)->deposit.path != old.deposit.path ||
          (*next)->store_dir != old.store_dir || (*next)->handle_key_file != old.handle_key_file ||
          (*next)->admin_listen.has_value() != old.admin_listen.has_value() ||
          ((*next)->admin_listen && (*next)->admin_listen->text() != old.admin_listen->text())) {
        log->warn(
            "reload: socket, admin_listen, store and handle key changes take effect only after "
            "a restart");
      }
      gssgate::setLogLevel((*next)->log.level);
      core.setConfig(*next);
      log->info("configuration reloaded from {}", config);
      continue;
    }
    log->info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  ready.store(false, std::memory_order_release);
  depositListener.stop();
  backendListener.stop();
  // Calls in flight get a second to finish; idle client connections (the proxy always holds
  // one) would otherwise hold Shutdown() to its full deadline.
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(1);
  depositServer->Shutdown(deadline);
  backendServer->Shutdown(deadline);
  {
    std::lock_guard lock(mu);
    stopping = true;
  }
  cv.notify_all();
  sweeper.join();
  if (admin) admin->stop();
  log->info("stopped");
  return 0;
}

// The admin HTTP listener both daemons share: GET/HEAD only, small requests, answers computed by
// a handler (health, readiness, metrics, JWKS). Runs on its own thread so a slow scrape never
// competes with request handling, and a busy daemon still answers its probes.
//
//   auto admin = AdminServer::start(*cfg.admin_listen, [&](std::string_view path) {
//     if (path == "/healthz") return AdminResponse{.body = "ok\n"};
//     return AdminResponse{.status = 404, .body = "not found\n"};
//   });
//
// Thread-safety: the handler runs on the admin thread, one request at a time; it must be safe to
// call concurrently with the rest of the daemon. stop() and the destructor may be called from
// any other thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/host_port.h"

namespace gssgate {

struct AdminResponse {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string cache_control = "no-store";
  std::string body;
};

// Called with the request target (path and query, as sent).
using AdminHandler = std::function<AdminResponse(std::string_view target)>;

// Prometheus' content type for AdminResponse::content_type.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

class AdminServer {
 public:
  // Binds `listen` (an IP literal host) and starts serving. Errors: the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<AdminServer>> start(const HostPort& listen,
                                                            AdminHandler handler);
  struct Impl;
  explicit AdminServer(std::unique_ptr<Impl> impl);  // use start()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;
  ~AdminServer();

  // Stops accepting and closes open admin connections; joins the thread. Idempotent.
  void stop();
  uint16_t port() const;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace gssgate

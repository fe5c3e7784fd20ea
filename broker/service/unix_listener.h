// Listens on a Unix socket for one gRPC server: accepts connections itself, records the
// caller's uid/gid/pid (SO_PEERCRED), then hands the connection to gRPC
// (grpc::AddInsecureChannelFromFd) — gRPC C++ has no API for a Unix caller's credentials.
//
//   UnixListener l(opts, server.get(), registry);
//   if (auto st = l.start(); !st.ok()) ...     // binds, sets mode/owner/group, starts thread
//   l.stop();                                   // closes the socket, joins, unlinks the path
//
// Thread-safety: start/stop from one thread; the accept loop runs on its own thread.
#pragma once

#include <grpcpp/server.h>

#include <atomic>
#include <thread>

#include "absl/status/status.h"
#include "broker/config.h"
#include "broker/service/peer_registry.h"

namespace gssgate::broker {

class UnixListener {
 public:
  UnixListener(SocketOptions options, grpc::Server* server, PeerRegistry& registry)
      : options_(std::move(options)), server_(server), registry_(registry) {}
  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;
  ~UnixListener() { stop(); }

  absl::Status start();
  void stop();

 private:
  void acceptLoop();
  SocketOptions options_;
  grpc::Server* server_;
  PeerRegistry& registry_;
  int fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace gssgate::broker

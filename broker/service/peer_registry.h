// Who is on the other end of each connection the broker accepted, as the kernel reported it
// (SO_PEERCRED) at accept time — before the fd was handed to gRPC. gRPC then names the call's
// peer "fd:N", which is looked up here.
//
//   registry.record(fd, cred);                  // at accept, before AddInsecureChannelFromFd
//   std::optional<PeerCred> p = registry.lookup(context->peer());
//
// Trust boundary: fd numbers are reused, so a record is overwritten at every accept; an entry
// of a closed connection is never consulted because no call can arrive on a closed fd.
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "broker/broker_core.h"

namespace gssgate::broker {

class PeerRegistry {
 public:
  void record(int fd, const PeerCred& cred);
  std::optional<PeerCred> lookup(std::string_view grpc_peer) const;

 private:
  mutable std::mutex mu_;  // guards peers_
  std::unordered_map<int, PeerCred> peers_;
};

}  // namespace gssgate::broker

#include "broker/service/peer_registry.h"

#include <charconv>

namespace gssgate::broker {

void PeerRegistry::record(int fd, const PeerCred& cred) {
  std::lock_guard lock(mu_);
  peers_[fd] = cred;
}

std::optional<PeerCred> PeerRegistry::lookup(std::string_view grpc_peer) const {
  constexpr std::string_view kPrefix = "fd:";
  if (!grpc_peer.starts_with(kPrefix)) return std::nullopt;
  std::string_view num = grpc_peer.substr(kPrefix.size());
  int fd = -1;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), fd);
  if (ec != std::errc() || p != num.data() + num.size()) return std::nullopt;
  std::lock_guard lock(mu_);
  auto it = peers_.find(fd);
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

}  // namespace gssgate::broker

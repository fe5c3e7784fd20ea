#include "proxy/broker_client/handle_minter.h"

#include <algorithm>
#include <mutex>

#include "proxy/session/session_cookie.h"

namespace gssgate::proxy {

void HandleMinter::remember(uint32_t key_id, const SecretString& key, int64_t ttl_seconds) {
  if (key.size() != Aead::kKeyBytes || ttl_seconds <= 0) return;
  std::unique_lock lock(mu_);
  const uint64_t seq = ++sequence_;
  auto it = keys_.find(key_id);
  if (it != keys_.end()) {
    it->second.ttl = ttl_seconds;
    it->second.last_remembered = seq;
    return;
  }
  if (keys_.size() >= kMaxKeys) {
    // Key ids are random: drop the key the broker handed over longest ago, not the lowest id
    // (which could be the broker's current key).
    keys_.erase(std::min_element(keys_.begin(), keys_.end(), [](const auto& a, const auto& b) {
      return a.second.last_remembered < b.second.last_remembered;
    }));
  }
  keys_.emplace(key_id, Entry{HandleCodec(key_id, key.str()), ttl_seconds, seq});
}

bool HandleMinter::knows(uint32_t key_id) const {
  std::shared_lock lock(mu_);
  return keys_.contains(key_id);
}

std::optional<std::string> HandleMinter::mint(const Session& session, int64_t now) const {
  if (!session.hasCredential()) return std::nullopt;
  std::shared_lock lock(mu_);
  auto it = keys_.find(session.handle_key_id);
  if (it == keys_.end()) return std::nullopt;
  HandleClaims claims;
  claims.credential_id = session.credential_id;
  claims.principal = session.principal;
  claims.expires_at = std::min(now + it->second.ttl, session.credential_expires_at);
  if (claims.expires_at <= now) return std::nullopt;
  return it->second.codec.seal(claims);
}

}  // namespace gssgate::proxy

// Sessions ended by logout before their cookie expired. The cookie is a bearer token: clearing
// it in the browser does not stop a copy of it, so the proxy also remembers the session id
// until the cookie would have expired anyway.
//
//   revocations.revoke(session.session_id, session.expires_at, now);
//   if (revocations.revoked(session.session_id)) → treat as no cookie
//
// Kept in memory only (a restart forgets them; the cookies still expire on time) and bounded
// (at most kMaxEntries; when full, the entries closest to expiry are dropped first).
//
// Thread-safety: all members may be called from any thread. revoked() costs one atomic load
// while nothing is revoked.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gssgate::proxy {

class SessionRevocations {
 public:
  static constexpr size_t kMaxEntries = 100'000;

  void revoke(const std::string& session_id, int64_t expires_at, int64_t now) {
    std::lock_guard lock(mu_);
    for (auto it = ids_.begin(); it != ids_.end();) {  // drop the ones that expired anyway
      it = it->second <= now ? ids_.erase(it) : std::next(it);
    }
    if (ids_.size() >= kMaxEntries) {
      auto soonest = ids_.begin();
      for (auto it = ids_.begin(); it != ids_.end(); ++it) {
        if (it->second < soonest->second) soonest = it;
      }
      ids_.erase(soonest);
    }
    ids_[session_id] = expires_at;
    count_.store(ids_.size(), std::memory_order_release);
  }

  bool revoked(std::string_view session_id) const {
    if (count_.load(std::memory_order_acquire) == 0) return false;
    std::lock_guard lock(mu_);
    return ids_.contains(std::string(session_id));
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, int64_t> ids_;
  std::atomic<size_t> count_{0};
};

}  // namespace gssgate::proxy

// The signed identity assertion (X-Gssgate-Assertion, a JWT) for an authenticated request.
// Signing costs tens of microseconds; a user's requests within a few seconds can share one
// token, so each worker thread keeps the tokens it made and signs again once less than half
// of a token's lifetime is left. A backend therefore always gets a token that is valid for at
// least lifetime/2 after the proxy sent it.
//
//   const std::string& jwt = worker.assertions.get(signer, cfg.assertion, principal, user, now);
//
// Thread-safety: one cache per worker thread; not shared.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/jwt_signer.h"
#include "proxy/config.h"

namespace gssgate::proxy {

class AssertionCache {
 public:
  static constexpr size_t kMaxEntries = 4096;

  const std::string& get(const JwtSigner& signer, const AssertionOptions& opts,
                         std::string_view principal, std::string_view local_name, int64_t now) {
    key_.assign(principal);
    key_ += '\n';
    key_ += local_name;
    const int64_t lifetime = opts.lifetime.count();
    auto it = entries_.find(key_);
    if (it != entries_.end() && it->second.signer == &signer &&
        2 * (it->second.expires_at - now) >= lifetime && it->second.issued_at <= now) {
      return it->second.token;
    }
    if (it == entries_.end() && entries_.size() >= kMaxEntries) entries_.clear();
    JwtClaims c;
    c.iss = opts.issuer;
    c.sub = std::string(local_name);
    c.principal = std::string(principal);
    c.aud = opts.audience;
    c.iat = now;
    c.exp = now + lifetime;
    c.jti = newJti();
    Entry& e = entries_[key_];
    e.token = signer.sign(c);
    e.issued_at = now;
    e.expires_at = c.exp;
    e.signer = &signer;
    return e.token;
  }
  // After a reload (new key, issuer or audience).
  void clear() { entries_.clear(); }

 private:
  struct Entry {
    std::string token;
    int64_t issued_at = 0;
    int64_t expires_at = 0;
    const JwtSigner* signer = nullptr;
  };
  std::string key_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace gssgate::proxy

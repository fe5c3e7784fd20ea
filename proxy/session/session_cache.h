// Sessions this worker thread already decrypted, keyed by the exact cookie value: a browser
// sends the same cookie with every request, so only its first request on a worker pays for
// base64 + AES-GCM. Entries expire with the session; the cache is emptied whenever the
// configuration (and with it, possibly, the session keys) is reloaded, so a key that was
// removed stops working at once. Revocation is checked by the caller on every request.
//
//   if (const Session* s = cache.find(cookie, codec.id(), now)) ... else open, then put()
//
// Entries are tagged with the codec that opened them: a request still running on the
// previous configuration can neither use nor leave behind an entry for the new one.
//
// Thread-safety: one cache per worker thread; not shared.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "proxy/session/session_cookie.h"

namespace gssgate::proxy {

class SessionCache {
 public:
  static constexpr size_t kMaxEntries = 4096;

  const Session* find(std::string_view cookie, uint64_t codec_id, int64_t now) {
    auto it = entries_.find(cookie);
    if (it == entries_.end()) return nullptr;
    if (it->second.codec_id != codec_id || it->second.session.expires_at <= now) {
      entries_.erase(it);
      return nullptr;
    }
    return &it->second.session;
  }
  void put(std::string_view cookie, uint64_t codec_id, const Session& s) {
    if (entries_.size() >= kMaxEntries) entries_.clear();  // simple and bounded
    entries_.insert_or_assign(std::string(cookie), Entry{codec_id, s});
  }
  void clear() { entries_.clear(); }
  size_t size() const { return entries_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Entry {
    uint64_t codec_id;
    Session session;
  };
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> entries_;
};

}  // namespace gssgate::proxy

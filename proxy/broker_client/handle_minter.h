// Mints credential handles in the proxy, without a broker round trip. At each deposit the
// broker hands over its handle-sealing key (on the private deposit socket); a later request
// that arrives with a session cookie gets a fresh, short-lived handle for the credential
// the cookie names.
//
//   minter.remember(receipt.handle_key_id, receipt.handle_key, receipt.handle_ttl);
//   std::optional<std::string> h = minter.mint(session, now);   // nullopt: key unknown
//
// Keys live only in this process's memory: after a proxy restart a cookie that names a
// credential cannot be served, and the user signs in again (which deposits anew).
//
// Thread-safety: all members may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>

#include "common/handle_codec.h"
#include "common/secure_wipe.h"

namespace gssgate::proxy {

struct Session;

class HandleMinter {
 public:
  void remember(uint32_t key_id, const SecretString& key, int64_t ttl_seconds);
  bool knows(uint32_t key_id) const;
  // A handle for the session's credential, valid for the broker's handle TTL (never past the
  // credential's own expiry); nullopt when the session has none or its key is unknown.
  std::optional<std::string> mint(const Session& session, int64_t now) const;

 private:
  struct Entry {
    HandleCodec codec;
    int64_t ttl;
    uint64_t last_remembered;  // sequence number: when full, the stalest key goes first
  };
  static constexpr size_t kMaxKeys = 16;  // a broker that restarts often must not grow this
  mutable std::shared_mutex mu_;          // guards keys_ and sequence_
  std::map<uint32_t, Entry> keys_;
  uint64_t sequence_ = 0;
};

}  // namespace gssgate::proxy

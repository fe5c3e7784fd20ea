// Makes a redeemed credential the calling thread's Kerberos identity for GSS-API, for one scope.
//
//   auto cred = broker.redeem(handle, "postgres/db.example.com");
//   auto scope = gssgate::client::ScopedCredential::create(*cred);
//   if (!scope.ok()) return scope.status();
//   PGconn* conn = PQconnectdb("host=db.example.com dbname=app user=alice");  // as alice
//   // scope ends: the thread's previous default ccache is back, the credential destroyed
//
// The ccache bytes are loaded into a private MEMORY ccache (through a memfd: nothing touches
// the disk) and set as this thread's default with MIT's per-thread gss_krb5_ccache_name(), so
// GSS-API users in this thread (libpq, gss_init_sec_context with GSS_C_NO_CREDENTIAL) use it.
// KRB5CCNAME and other threads are not affected.
//
// Thread-safety: bound to the thread that created it. Any number of threads may each hold their
// own ScopedCredential at once. Destroy it on the creating thread, and destroy nested scopes in
// reverse order of creation; destroyed on another thread it still destroys the credential but
// cannot restore the creating thread's default (that thread then has no usable default
// credential until it sets one). Plain krb5 API users (krb5_cc_default) are not covered: MIT
// applies the per-thread name to GSS-API only.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"
#include "gssgate/broker_client.h"

namespace gssgate::client {

class ScopedCredential {
 public:
  // Loads `ccache_bytes` (MIT FILE ccache format, as returned by the broker) and makes it this
  // thread's default. INVALID_ARGUMENT for bytes that are not a ccache with a principal;
  // INTERNAL for krb5/GSS/system failures.
  static absl::StatusOr<std::unique_ptr<ScopedCredential>> create(std::string_view ccache_bytes);
  static absl::StatusOr<std::unique_ptr<ScopedCredential>> create(
      const RedeemedCredential& credential);

  ScopedCredential(const ScopedCredential&) = delete;
  ScopedCredential& operator=(const ScopedCredential&) = delete;
  ScopedCredential(ScopedCredential&&) = delete;
  ScopedCredential& operator=(ScopedCredential&&) = delete;
  // Restores the previous default of this thread, then destroys the MEMORY ccache.
  ~ScopedCredential();

  // The ccache's default principal, e.g. "alice@EXAMPLE.COM".
  const std::string& principal() const { return principal_; }
  // "MEMORY:<unique>" — the private cache now set as this thread's default.
  const std::string& ccacheName() const { return ccache_name_; }

 private:
  struct Cache;  // krb5 context + the MEMORY ccache (keeps krb5.h out of this header)
  ScopedCredential(std::unique_ptr<Cache> cache, std::string name, std::string principal);

  std::unique_ptr<Cache> cache_;
  std::string ccache_name_;
  std::string principal_;
  std::thread::id thread_;
  bool installed_ = false;  // this thread's default was switched (and must be restored)
  // The name to restore; nullopt means the thread had no name of its own (library default).
  std::optional<std::string> previous_;
};

}  // namespace gssgate::client

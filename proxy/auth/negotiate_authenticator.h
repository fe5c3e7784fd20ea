// SPNEGO acceptor: runs gss_accept_sec_context for one `Authorization: Negotiate` leg with the
// keytab's credentials, allowing only Kerberos inside SPNEGO, and checks the result
// (mechanism, anonymity, a printable principal, a local name via krb5 auth_to_local).
//
//   auto auth = NegotiateAuthenticator::create(config);        // fails fast: keytab unusable
//   GssContext pending;                                        // one per TCP connection
//   AuthResult r = (*auth)->accept(tokenBytes, pending);
//   if (r.outcome == AuthOutcome::kOk) forward(r.principal, r.local_name);
//
// Thread-safety: accept() may be called from any number of threads at once; each thread uses
// its own acceptor credential (acquired once per thread, not per request). A `pending`
// context belongs to one connection and is never used by two threads at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/gss_handles.h"
#include "common/krb5_handles.h"
#include "common/secure_wipe.h"
#include "proxy/auth/spnego_token.h"
#include "proxy/config.h"

namespace gssgate::proxy {

enum class AuthOutcome {
  kOk,            // authenticated; principal and local_name set
  kContinue,      // another leg needed; send output_token in a 401
  kUnauthorized,  // refused: 401 with a fresh challenge
  kMalformed,     // not a token at all: 400
  kForbidden,     // authenticated but unusable identity (no local name, unsafe bytes): 403
};

struct AuthResult {
  AuthOutcome outcome = AuthOutcome::kUnauthorized;
  const char* reason = "";                    // stable short reason for logs and metrics
  std::string principal;                      // user@REALM (kOk, kForbidden)
  std::string local_name;                     // auth_to_local result (kOk)
  std::string output_token;                   // base64, may be empty (mutual auth / next leg)
  GssCred delegated;                          // the client delegated a credential (GSS path)
  std::optional<SecretString> delegated_tgt;  // ... its TGT, marshalled (direct krb5 path)
  uint32_t lifetime = 0;                      // seconds the client's ticket is still valid (kOk)
  std::string detail;  // GSS error text for the server log; never sent to clients
};

class NegotiateAuthenticator {
 public:
  // Validates the keytab (readable, holds keys, holds `acceptor` when set) and acquires a
  // credential once to prove it works.
  static absl::StatusOr<std::shared_ptr<NegotiateAuthenticator>> create(const ProxyConfig& cfg);

  // Runs one leg with decoded token bytes. `pending` carries a multi-leg context between
  // calls on the same connection; it is emptied on completion and on every failure.
  AuthResult accept(std::string_view token, GssContext& pending);

  ~NegotiateAuthenticator();
  NegotiateAuthenticator(const NegotiateAuthenticator&) = delete;
  NegotiateAuthenticator& operator=(const NegotiateAuthenticator&) = delete;

  // Number of GSS accept calls made (for tests/metrics: the cookie path must not add to it).
  uint64_t acceptCalls() const { return accept_calls_.load(std::memory_order_relaxed); }
  // Of those, first tokens accepted with krb5 directly (krb5_ap_req_acceptor.h).
  uint64_t directAcceptCalls() const { return direct_calls_.load(std::memory_order_relaxed); }

 private:
  explicit NegotiateAuthenticator(const ProxyConfig& cfg);
  absl::StatusOr<GssCred> acquire() const;
  gss_cred_id_t threadCredential(std::string& error);
  // The common first token, accepted with krb5 directly (krb5_ap_req_acceptor.h).
  AuthResult acceptDirect(const SpnegoKrb5Init& init);
  // Both paths end here: a printable principal with a local name, or kForbidden.
  static AuthResult finishIdentity(AuthResult r);

  std::string keytab_;
  std::unique_ptr<Krb5Context> kt_context_;  // owns memory_keytab_'s handle
  std::string memory_name_;                  // "MEMORY:gssgate-acceptor-<pid>-<generation>"
  krb5_keytab memory_keytab_ = nullptr;      // keeps the in-memory copy of keytab_ alive
  std::string acceptor_;
  std::string replay_cache_;
  uint64_t generation_;
  std::atomic<uint64_t> accept_calls_{0};
  std::atomic<uint64_t> direct_calls_{0};
};

}  // namespace gssgate::proxy

// HTTP Basic checked against Kerberos: gets a TGT for user:password from the KDC (in memory
// only) and verifies it with our own keytab, so a rogue or spoofed KDC cannot mint a login.
// An optional fallback for clients without Negotiate; the HTTP layer offers it only over TLS.
//
//   auto verifier = BasicVerifier::create(cfg.keytab, cfg.acceptor);   // fails fast: keytab
//   BasicResult r = (*verifier)->verify(valueAfterBasic);               // blocking: KDC I/O
//   if (r.outcome == BasicResult::Outcome::kOk) forward(r.principal, r.local_name);
//
// What verify() does, in order:
//  1. strict base64 (common/base64.h), split at the first ':', bounds and byte checks;
//  2. the user must be `name` or `name@REALM` with a single-component `name` (no '/', '@' or
//     '\\'): no enterprise names, no service principals, no escape tricks. A bare name gets the
//     krb5.conf default realm; the realm must then be the server principal's realm (compared
//     ignoring ASCII case; the server's spelling is used). The principal is built from its
//     parts, never parsed, and is an ordinary KRB5_NT_PRINCIPAL without canonicalization;
//  3. krb5_get_init_creds_password with no prompter and no ccache (the TGT stays in a
//     krb5_creds that is freed, keys zeroed, before returning);
//  4. krb5_verify_init_creds with ap_req_nofail: a service ticket for the server principal,
//     obtained with that TGT, must decrypt with our keytab. Only the real KDC has that key;
//  5. the local name by krb5 auth_to_local, as NegotiateAuthenticator does (403 without one).
//
// Each call creates its own krb5_context, so krb5.conf (KRB5_CONFIG) is read per call and a
// changed KDC list applies to the next request. KDC timeouts are MIT's (krb5.conf); there is
// no per-call deadline in the krb5 1.20 API, so run verify() on a bounded worker pool.
//
// Thread-safety: the object is immutable after create(); verify() may be called from any
// number of threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace gssgate::proxy {

struct BasicResult {
  enum class Outcome {
    kOk,              // password right and TGT verified; principal, local_name, ticket_end set
    kMalformed,       // not a Basic credential we could parse: 400
    kBadCredentials,  // wrong password, unknown user, other realm, failed verification: 401
    kUnavailable,     // KDC unreachable (or our clock is off): 503
    kForbidden,       // authenticated, but no usable local name: 403 (as for Negotiate)
  };
  Outcome outcome = Outcome::kBadCredentials;
  // Stable short label for metrics and logs: "ok", "malformed", "bad_password",
  // "unknown_user", "password_expired", "account_disabled", "wrong_realm",
  // "name_not_allowed", "login_failed", "verify_failed", "kdc_unreachable", "clock_skew",
  // "no_local_name", "internal".
  std::string reason;
  std::string detail;      // for the server log (krb5 message); never holds the password
  std::string principal;   // user@REALM once the user name was understood
  std::string local_name;  // auth_to_local result (kOk)
  int64_t ticket_end = 0;  // TGT end time the KDC granted, Unix seconds (kOk, kForbidden)
};

class BasicVerifier {
 public:
  // `keytab` is a file path; `acceptor` a krb5 principal ("HTTP/host@REALM"; a missing realm
  // is the default realm) that must be in the keytab, or empty for the keytab's first
  // principal. Fails when the keytab is unreadable, empty or lacks the acceptor.
  static absl::StatusOr<std::unique_ptr<BasicVerifier>> create(const std::string& keytab,
                                                               const std::string& acceptor);

  // `credentials` is what follows "Basic " in the Authorization header (surrounding spaces
  // are ignored). Blocking: several KDC exchanges (AS, AS with preauth, TGS). The decoded
  // password is wiped before returning; the caller owns (and should wipe) the header value.
  BasicResult verify(std::string_view credentials) const;

  // The principal whose keytab keys verify the TGT, e.g. "HTTP/localhost@GSSGATE.TEST".
  const std::string& serverPrincipal() const { return server_; }
  const std::string& realm() const { return realm_; }

  static constexpr size_t kMaxUserBytes = 256;
  static constexpr size_t kMaxPasswordBytes = 1024;

 private:
  struct Key {
    explicit Key() = default;
  };

 public:
  // Use create(); the key keeps the constructor private while make_unique can reach it.
  BasicVerifier(Key /*key*/, std::string keytab, std::string server, std::string realm)
      : keytab_(std::move(keytab)), server_(std::move(server)), realm_(std::move(realm)) {}

 private:
  std::string keytab_;  // "FILE:<path>"
  std::string server_;  // unparsed server principal, with realm
  std::string realm_;   // the server principal's realm: the only realm users may log in to
};

}  // namespace gssgate::proxy

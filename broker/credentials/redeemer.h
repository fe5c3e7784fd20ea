// Turns a stored TGT into a ccache for one service: gets (or reuses a cached) service ticket
// from the KDC with the TGT and returns a ccache holding the client principal and only that
// ticket (plus the TGT only when policy allows it).
//
//   Redeemer r(std::chrono::minutes(2), ticketSource);   // e.g. a DeadlineTicketSource
//   auto out = r.redeem(*stored, "postgres/db.example.com", /*include_tgt=*/false, now);
//
// Errors: INVALID_ARGUMENT (bad service name), FAILED_PRECONDITION (service unknown to the
// KDC), UNAVAILABLE (KDC unreachable, too slow or refusing), INTERNAL.
// Thread-safety: safe from many threads; uses the calling thread's krb5 context (the KDC
// exchange runs wherever `source` runs it); the credential's ticket cache is guarded by its
// mutex.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "broker/credentials/stored_credential.h"
#include "broker/credentials/ticket_source.h"

namespace gssgate::broker {

struct RedeemOutput {
  SecretString ccache;
  std::string principal;
  int64_t expires_at = 0;
  bool from_cache = false;
};

// "postgres/db.example.com" stays; "postgres@db.example.com" becomes "postgres/db..."; a
// realm, empty parts, control bytes or more than two components are refused.
absl::StatusOr<std::string> normalizeService(std::string_view service);

class Redeemer {
 public:
  // `source` must outlive the Redeemer.
  Redeemer(std::chrono::seconds min_remaining, const TicketSource& source)
      : min_remaining_(min_remaining), source_(source) {}
  absl::StatusOr<RedeemOutput> redeem(StoredCredential& cred, const std::string& service,
                                      bool include_tgt, int64_t now) const;

 private:
  std::chrono::seconds min_remaining_;
  const TicketSource& source_;
};

}  // namespace gssgate::broker

// Strict parsing of a deposited credential: exactly one krb5_creds in MIT's marshal format,
// which must be a TGT (krbtgt/REALM@REALM) of the claimed client principal's own realm, not
// expired, with a ticket and a session key. Anything else is refused with a reason.
//
//   auto tgt = parseDeposit(ctx, "alice@EX.COM", bytes, now);
//   if (!tgt.ok()) → INVALID_ARGUMENT with tgt.status().message()
//
// Thread-safety: uses only the caller's krb5 context.
#pragma once

#include <krb5/krb5.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/secure_wipe.h"

namespace gssgate::broker {

struct ParsedTgt {
  std::string principal;  // canonical unparsed client principal
  int64_t end_time = 0;
  SecretString marshaled;  // the bytes as deposited (verified)
};

absl::StatusOr<ParsedTgt> parseDeposit(krb5_context ctx, std::string_view claimed_principal,
                                       std::string_view bytes, int64_t now);

}  // namespace gssgate::broker

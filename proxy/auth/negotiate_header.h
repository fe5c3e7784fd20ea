// Parsing of an `Authorization: Negotiate <token>` value and cheap structural checks on the
// decoded token, done before any GSS call so that garbage never reaches the GSS library.
//
//   auto parsed = parseAuthorization(value);
//   if (parsed.kind == AuthorizationKind::kNegotiate) {
//     TokenCheck c = checkNegotiateToken(parsed.token.str(), /*continuation=*/false);
//   }
//
// Thread-safety: pure functions.
#pragma once

#include <string_view>

#include "common/secure_wipe.h"

namespace gssgate::proxy {

enum class AuthorizationKind {
  kNegotiate,    // "Negotiate <valid base64>"
  kMalformed,    // "Negotiate" with a missing or non-base64 token
  kOtherScheme,  // Basic, Bearer, NTLM, ... (not ours)
};

struct ParsedAuthorization {
  AuthorizationKind kind = AuthorizationKind::kOtherScheme;
  SecretString token;  // decoded bytes (kNegotiate only); wiped when destroyed
};

// Parses a header value; the scheme is matched case-insensitively. Token bytes larger than
// `max_token_bytes` are reported as kMalformed.
ParsedAuthorization parseAuthorization(std::string_view value, size_t max_token_bytes);

enum class TokenCheck {
  kSpnegoInit,  // RFC 2743 initial-context token carrying the SPNEGO OID
  kSpnegoResp,  // SPNEGO negTokenResp (a later leg of a multi-leg exchange)
  kNtlm,        // raw NTLMSSP message: not Kerberos, refused with a challenge
  kOtherMech,   // a well-formed initial token for another mechanism (raw krb5, IAKERB, ...)
  kMalformed,   // anything else
};

// Structural check of a decoded token: DER framing with consistent definite lengths.
TokenCheck checkNegotiateToken(std::string_view token);

}  // namespace gssgate::proxy

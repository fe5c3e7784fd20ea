// The one SPNEGO shape (RFC 4178) that every Kerberos HTTP client sends first — a NegTokenInit
// whose most preferred mechanism is Kerberos and which carries the optimistic AP-REQ — and the
// NegTokenResp that completes it. NegotiateAuthenticator accepts that shape with krb5 directly
// (one long-lived krb5 context per thread instead of the mechglue's five throw-away ones per
// accept) and hands every other token to gss_accept_sec_context unchanged.
//
//   if (auto init = parseSpnegoKrb5Init(token)) {
//     ... krb5_rd_req(init->ap_req) ...
//     std::string reply = spnegoAcceptCompleted(init->mech_oid, apRepBytes);  // "" = no AP-REP
//   }
//
// The parser is strict DER: definite minimal lengths, every length exactly filling its parent,
// the fields in their schema order. A NegTokenInit with a mechListMIC, another first mechanism,
// no mechToken, or an inner token that is not a krb5 AP-REQ is not this shape (nullopt): it goes
// to GSS, which decides. Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gssgate::proxy {

struct SpnegoKrb5Init {
  std::string_view mech_oid;  // the first mechType, DER (06 09 ...): echoed as supportedMech
  std::string_view ap_req;    // the AP-REQ (RFC 4120 [APPLICATION 14]) inside the krb5 token
};

std::optional<SpnegoKrb5Init> parseSpnegoKrb5Init(std::string_view token);

// NegTokenResp { negState accept-completed, supportedMech, responseToken = krb5 AP-REP token }
// with `ap_rep` wrapped in the RFC 1964 token header (TOK_ID 02 00); no responseToken when
// `ap_rep` is empty (the client did not ask for mutual authentication).
std::string spnegoAcceptCompleted(std::string_view mech_oid, std::string_view ap_rep);

}  // namespace gssgate::proxy

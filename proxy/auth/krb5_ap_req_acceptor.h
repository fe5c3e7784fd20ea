// Accepts a Kerberos AP-REQ the way MIT's krb5 GSS mechanism does (RFC 4121 §4.1), on the
// calling thread's long-lived krb5 context: krb5_rd_req against the in-memory keytab (ticket,
// authenticator, clock skew, the shared replay cache), the 0x8003 authenticator checksum (GSS
// flags, the forwarded TGT), and, when the client asked for mutual authentication, the AP-REP.
// NegotiateAuthenticator uses it for the common SPNEGO shape (spnego_token.h); it is what
// gss_accept_sec_context would do for that token without five throw-away krb5 contexts.
//
//   ApReqKeys keys{keytab, rcache, acceptor_or_null};
//   ApReqResult r = acceptApReq(ctx, keys, init->ap_req);
//   if (r.code == 0) use(r.client, r.ap_rep, r.delegated_tgt);
//
// Differences from the GSS mechanism, on purpose: the authenticator must carry the GSS 0x8003
// checksum (MIT also takes none or a plain one, for old SMB clients; no HTTP client sends
// those), channel bindings are ignored (gssgate passes none to GSS either), and only a TGT of
// the client's own realm is taken from a forwarded KRB-CRED (what the broker accepts anyway).
// Thread-safety: one call per thread at a time with that thread's context and handles.
#pragma once

#include <krb5/krb5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/secure_wipe.h"

namespace gssgate::proxy {

struct ApReqKeys {
  krb5_keytab keytab = nullptr;     // the acceptor keys (MEMORY keytab)
  krb5_rcache rcache = nullptr;     // the replay cache (shared with the GSS path)
  krb5_principal server = nullptr;  // `acceptor`, or nullptr: any principal in the keytab
};

struct ApReqResult {
  krb5_error_code code = 0;  // 0 = accepted; else why (krb5 code, for reason and log)
  std::string error;         // readable reason when code != 0 (server log only)
  std::string client;        // user@REALM (krb5_unparse_name, as gss_display_name)
  bool anonymous = false;    // the client is WELLKNOWN/ANONYMOUS
  krb5_timestamp ticket_end = 0;
  std::string ap_rep;                         // AP-REP DER when mutual auth was asked, else ""
  std::optional<SecretString> delegated_tgt;  // krb5_marshal_credentials of the forwarded TGT
};

ApReqResult acceptApReq(krb5_context ctx, const ApReqKeys& keys, std::string_view ap_req);

}  // namespace gssgate::proxy

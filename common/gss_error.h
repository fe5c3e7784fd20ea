// Turns a GSS-API major/minor status pair into one readable line, for logs only (never sent to
// clients). Format, as in mod_auth_gssapi: "<major text> (<minor text>)".
//
//   if (GSS_ERROR(major)) log->warn("accept: {}", gssErrorMessage(major, minor));
//
// Thread-safety: safe to call from any thread.
#pragma once

#include <gssapi/gssapi.h>

#include <string>

namespace gssgate {

// `mech` selects the mechanism whose table explains the minor code; GSS_C_NO_OID lets the
// library pick (correct for krb5 minors, which are what SPNEGO surfaces). A minor code that the
// GSS library did not return in this process (a raw krb5 code, or one relayed by the broker) is
// explained through krb5's error tables instead; an unknown one shows as "minor status N".
std::string gssErrorMessage(OM_uint32 major, OM_uint32 minor, gss_OID mech = GSS_C_NO_OID);

}  // namespace gssgate

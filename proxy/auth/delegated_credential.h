// Pulls the user's TGT out of a delegated GSS credential, in MIT's marshal format, for the
// broker. The credential passes through a private MEMORY ccache (destroyed before returning);
// it is never written to disk and never exported with gss_export_cred (whose blobs can name
// files and must not be imported by a more privileged process).
//
//   auto tgt = delegatedTgt(result.delegated.get(), result.principal);
//
// Thread-safety: uses the calling thread's krb5 context; the GSS credential must not be used
// by another thread meanwhile.
#pragma once

#include <gssapi/gssapi.h>
#include <krb5/krb5.h>

#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/secure_wipe.h"

namespace gssgate::proxy {

absl::StatusOr<SecretString> delegatedTgt(gss_cred_id_t delegated, std::string_view principal);

// `creds` marshalled if it is `client`'s TGT of the client's own realm (krbtgt/R@R), else
// nullopt. Shared by delegatedTgt (a ccache) and the direct krb5 path (a KRB-CRED's list).
std::optional<SecretString> marshalIfClientTgt(krb5_context ctx, krb5_creds& creds,
                                               krb5_const_principal client);

}  // namespace gssgate::proxy

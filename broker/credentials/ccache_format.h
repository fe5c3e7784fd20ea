// Serialises credentials into MIT's FILE ccache format, version 4 (what `klist` reads and what
// KRB5CCNAME=FILE:... points at), in memory — no file is ever created for it.
//
//   SecretString bytes = serializeCcache(ctx, client, {serviceCreds});
//
// Layout: 0x0504 | header length 0 | default principal | each credential as
// krb5_marshal_credentials() (which is MIT's v4 ccache credential encoding).
// Thread-safety: uses only the caller's krb5 context.
#pragma once

#include <krb5/krb5.h>

#include <vector>

#include "absl/status/statusor.h"
#include "common/secure_wipe.h"

namespace gssgate::broker {

absl::StatusOr<SecretString> serializeCcache(krb5_context ctx, krb5_const_principal client,
                                             const std::vector<const krb5_creds*>& creds);

}  // namespace gssgate::broker

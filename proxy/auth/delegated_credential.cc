#include "proxy/auth/delegated_credential.h"

#include <gssapi/gssapi_krb5.h>

#include "common/aead.h"
#include "common/base64.h"
#include "common/gss_error.h"
#include "common/krb5_handles.h"
#include "common/krb5_thread_context.h"
#include "common/strings.h"

namespace gssgate::proxy {

absl::StatusOr<SecretString> delegatedTgt(gss_cred_id_t delegated, std::string_view principal) {
  krb5_context ctx = threadKrb5Context();
  if (ctx == nullptr) return absl::InternalError("krb5 context unavailable");
  const std::string name = "MEMORY:gssgate-deleg-" + base64UrlEncode(randomBytes(12));
  gss_key_value_element_desc element{"ccache", name.c_str()};
  gss_key_value_set_desc store{1, &element};
  OM_uint32 minor = 0;
  OM_uint32 major =
      gss_store_cred_into(&minor, delegated, GSS_C_INITIATE, const_cast<gss_OID>(gss_mech_krb5), 1,
                          0, &store, nullptr, nullptr);
  Krb5DestroyingCcache cc(ctx);
  if (krb5_cc_resolve(ctx, name.c_str(), cc.out()) != 0) {
    return absl::InternalError("cannot open the private memory ccache");
  }
  if (GSS_ERROR(major)) {
    return absl::InternalError(
        strCat("storing the delegated credential: ", gssErrorMessage(major, minor)));
  }
  Krb5Principal client(ctx);
  std::string p(principal);
  if (krb5_parse_name(ctx, p.c_str(), client.out()) != 0) {
    return absl::InvalidArgumentError("principal is not a valid Kerberos name");
  }
  krb5_cc_cursor cursor = nullptr;
  if (krb5_cc_start_seq_get(ctx, cc.get(), &cursor) != 0) {
    return absl::InternalError("cannot read the delegated credential");
  }
  std::optional<SecretString> out;
  krb5_creds creds;
  while (krb5_cc_next_cred(ctx, cc.get(), &cursor, &creds) == 0) {
    if (!out) out = marshalIfClientTgt(ctx, creds, client.get());
    krb5_free_cred_contents(ctx, &creds);
  }
  krb5_cc_end_seq_get(ctx, cc.get(), &cursor);
  if (!out) return absl::NotFoundError("the delegated credential holds no TGT of the user's realm");
  return std::move(*out);
}

std::optional<SecretString> marshalIfClientTgt(krb5_context ctx, krb5_creds& creds,
                                               krb5_const_principal client) {
  const krb5_data& realm = client->realm;
  Krb5Principal tgs(ctx);
  if (krb5_build_principal_ext(ctx, tgs.out(), realm.length, realm.data, KRB5_TGS_NAME_SIZE,
                               KRB5_TGS_NAME, realm.length, realm.data, 0) != 0 ||
      !krb5_principal_compare(ctx, creds.server, tgs.get()) ||
      !krb5_principal_compare(ctx, creds.client, client)) {
    return std::nullopt;
  }
  krb5_data* data = nullptr;
  if (krb5_marshal_credentials(ctx, &creds, &data) != 0) return std::nullopt;
  SecretString out(std::string(data->data, data->length));
  secureWipe(data->data, data->length);
  krb5_free_data(ctx, data);
  return out;
}

}  // namespace gssgate::proxy

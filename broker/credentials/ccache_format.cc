#include "broker/credentials/ccache_format.h"

#include "common/krb5_handles.h"
#include "common/strings.h"

namespace gssgate::broker {
namespace {

void put32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (24 - 8 * i)) & 0xff);
}

void putData(std::string& out, const krb5_data& d) {
  put32(out, d.length);
  out.append(d.data, d.length);
}

}  // namespace

absl::StatusOr<SecretString> serializeCcache(krb5_context ctx, krb5_const_principal client,
                                             const std::vector<const krb5_creds*>& creds) {
  SecretString out;
  std::string& s = out.mutableStr();
  s += '\x05';
  s += '\x04';
  s += '\0';  // header length (16 bits): no header tags
  s += '\0';
  put32(s, static_cast<uint32_t>(client->type));
  put32(s, static_cast<uint32_t>(client->length));
  putData(s, client->realm);
  for (krb5_int32 i = 0; i < client->length; ++i) putData(s, client->data[i]);
  for (const krb5_creds* c : creds) {
    krb5_data* data = nullptr;
    if (krb5_error_code code = krb5_marshal_credentials(ctx, const_cast<krb5_creds*>(c), &data);
        code != 0) {
      return absl::InternalError(
          strCat("cannot serialise credential: ", krb5ErrorMessage(ctx, code)));
    }
    s.append(data->data, data->length);
    secureWipe(data->data, data->length);
    krb5_free_data(ctx, data);
  }
  return out;
}

}  // namespace gssgate::broker

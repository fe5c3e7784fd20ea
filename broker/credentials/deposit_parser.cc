#include "broker/credentials/deposit_parser.h"

#include "common/krb5_handles.h"
#include "common/strings.h"

namespace gssgate::broker {
namespace {

// Frees a krb5_creds from krb5_unmarshal_credentials, wiping its key first.
struct CredsOwner {
  krb5_context ctx;
  krb5_creds* creds = nullptr;
  ~CredsOwner() {
    if (creds != nullptr) krb5_free_creds(ctx, creds);  // MIT zeroes keyblocks it frees
  }
};

}  // namespace

absl::StatusOr<ParsedTgt> parseDeposit(krb5_context ctx, std::string_view claimed_principal,
                                       std::string_view bytes, int64_t now) {
  if (bytes.empty()) return absl::InvalidArgumentError("deposit holds no credential");
  krb5_data data{};
  data.magic = KV5M_DATA;
  data.length = static_cast<unsigned int>(bytes.size());
  data.data = const_cast<char*>(bytes.data());
  CredsOwner owner{ctx};
  if (krb5_error_code code = krb5_unmarshal_credentials(ctx, &data, &owner.creds); code != 0) {
    return absl::InvalidArgumentError(
        strCat("deposit is not a marshaled Kerberos credential: ", krb5ErrorMessage(ctx, code)));
  }
  // krb5_unmarshal_credentials() stops after the first credential and ignores what follows;
  // a deposit is exactly one, so its re-marshaled form must be the whole input.
  krb5_data* again = nullptr;
  if (krb5_marshal_credentials(ctx, owner.creds, &again) != 0) {
    return absl::InvalidArgumentError("deposit is not a marshaled Kerberos credential");
  }
  const bool exact = again->length == bytes.size();
  secureWipe(again->data, again->length);
  krb5_free_data(ctx, again);
  if (!exact) {
    return absl::InvalidArgumentError("deposit holds bytes after the one credential it may hold");
  }
  const krb5_creds& c = *owner.creds;
  if (c.client == nullptr || c.server == nullptr) {
    return absl::InvalidArgumentError("deposit lacks client or server principal");
  }
  Krb5Principal claimed(ctx);
  std::string claimedText(claimed_principal);
  if (krb5_parse_name(ctx, claimedText.c_str(), claimed.out()) != 0) {
    return absl::InvalidArgumentError("claimed principal is not a valid Kerberos name");
  }
  if (!krb5_principal_compare(ctx, c.client, claimed.get())) {
    return absl::InvalidArgumentError(
        "deposited credential's client principal differs from the authenticated principal");
  }
  // A TGT of the client's own realm: krbtgt/REALM@REALM.
  const krb5_data& realm = c.client->realm;
  Krb5Principal tgs(ctx);
  if (krb5_build_principal_ext(ctx, tgs.out(), realm.length, realm.data, KRB5_TGS_NAME_SIZE,
                               KRB5_TGS_NAME, realm.length, realm.data, 0) != 0) {
    return absl::InternalError("cannot build the TGS principal");
  }
  if (!krb5_principal_compare(ctx, c.server, tgs.get())) {
    return absl::InvalidArgumentError(
        "deposited credential is not a ticket-granting ticket of the client's realm");
  }
  if (c.is_skey != 0 || c.ticket.length == 0 || c.keyblock.length == 0) {
    return absl::InvalidArgumentError("deposited credential has no ticket or session key");
  }
  krb5_ticket* decoded = nullptr;
  if (krb5_decode_ticket(&c.ticket, &decoded) != 0) {
    return absl::InvalidArgumentError("deposited ticket is not a valid Kerberos ticket");
  }
  krb5_free_ticket(ctx, decoded);
  if (static_cast<int64_t>(static_cast<uint32_t>(c.times.endtime)) <= now) {
    return absl::InvalidArgumentError("deposited ticket has expired");
  }
  ParsedTgt out;
  Krb5String name(ctx);
  if (krb5_unparse_name(ctx, c.client, name.out()) != 0) {
    return absl::InternalError("cannot unparse client principal");
  }
  out.principal = name.get();
  out.end_time = static_cast<int64_t>(static_cast<uint32_t>(c.times.endtime));
  out.marshaled = SecretString(std::string(bytes));
  return out;
}

}  // namespace gssgate::broker

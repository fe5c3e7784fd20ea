#include "proxy/auth/krb5_ap_req_acceptor.h"

#include <gssapi/gssapi.h>

#include <memory>
#include <utility>

#include "common/krb5_handles.h"
#include "common/strings.h"
#include "proxy/auth/delegated_credential.h"

namespace gssgate::proxy {
namespace {

constexpr krb5_cksumtype kGssChecksum = 0x8003;  // RFC 4121 §4.1.1
constexpr size_t kMinGssChecksum = 24;           // Lgth(4) + Bnd(16) + Flags(4)
constexpr uint32_t kBindingLength = 16;
constexpr uint16_t kDelegationOption = 1;  // DlgOpt

uint32_t load32le(const krb5_octet* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8U) |
         (static_cast<uint32_t>(p[2]) << 16U) | (static_cast<uint32_t>(p[3]) << 24U);
}
uint16_t load16le(const krb5_octet* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8U)); }

// An auth context that borrows the thread's replay cache: detached before the free, which
// would otherwise close it.
class AuthContext {
 public:
  explicit AuthContext(krb5_context ctx) : ctx_(ctx) {}
  AuthContext(const AuthContext&) = delete;
  AuthContext& operator=(const AuthContext&) = delete;
  AuthContext(AuthContext&&) = delete;
  AuthContext& operator=(AuthContext&&) = delete;
  ~AuthContext() {
    if (ac_ == nullptr) return;
    if (borrowed_rcache_) krb5_auth_con_setrcache(ctx_, ac_, nullptr);
    krb5_auth_con_free(ctx_, ac_);
  }
  krb5_error_code init(krb5_rcache rcache) {
    if (krb5_error_code code = krb5_auth_con_init(ctx_, &ac_); code != 0) return code;
    if (rcache == nullptr) return 0;
    borrowed_rcache_ = true;
    return krb5_auth_con_setrcache(ctx_, ac_, rcache);
  }
  krb5_auth_context get() const { return ac_; }
  krb5_auth_context* inout() { return &ac_; }

 private:
  krb5_context ctx_;
  krb5_auth_context ac_ = nullptr;
  bool borrowed_rcache_ = false;
};

struct TicketDeleter {
  krb5_context ctx;
  void operator()(krb5_ticket* t) const { krb5_free_ticket(ctx, t); }
};
struct AuthenticatorDeleter {
  krb5_context ctx;
  void operator()(krb5_authenticator* a) const { krb5_free_authenticator(ctx, a); }
};
struct CredsListDeleter {
  krb5_context ctx;
  void operator()(krb5_creds** c) const { krb5_free_tgt_creds(ctx, c); }
};

ApReqResult failure(krb5_context ctx, krb5_error_code code, std::string_view what) {
  ApReqResult r;
  r.code = code;
  r.error = strCat(what, ": ", krb5ErrorMessage(ctx, code));
  return r;
}

// The forwarded credentials (KRB-CRED) → the client's TGT of its own realm, marshalled. MIT
// clients encrypt the KRB-CRED in the session key or subkey, or leave it to the authenticator's
// encryption (etype 0); like the GSS mechanism, try the auth context's keys, then none.
std::optional<SecretString> forwardedTgt(krb5_context ctx, krb5_auth_context ac,
                                         krb5_const_principal client, krb5_data& krb_cred,
                                         krb5_error_code& code) {
  krb5_int32 saved_flags = 0;
  krb5_auth_con_getflags(ctx, ac, &saved_flags);
  krb5_auth_con_setflags(ctx, ac, 0);  // the KRB-CRED has no replay entry or sequence of its own
  krb5_creds** raw = nullptr;
  code = krb5_rd_cred(ctx, ac, &krb_cred, &raw, nullptr);
  krb5_auth_con_setflags(ctx, ac, saved_flags);
  if (code != 0) {
    AuthContext plain(ctx);
    if (code = plain.init(nullptr); code != 0) return std::nullopt;
    krb5_auth_con_setflags(ctx, plain.get(), 0);
    if (code = krb5_rd_cred(ctx, plain.get(), &krb_cred, &raw, nullptr); code != 0) {
      return std::nullopt;
    }
  }
  std::unique_ptr<krb5_creds*, CredsListDeleter> creds(raw, CredsListDeleter{ctx});
  for (krb5_creds** c = creds.get(); *c != nullptr; ++c) {
    if (auto tgt = marshalIfClientTgt(ctx, **c, client)) return tgt;
  }
  code = 0;  // delegated, but no TGT of the client's realm: treated as no delegation
  return std::nullopt;
}

}  // namespace

ApReqResult acceptApReq(krb5_context ctx, const ApReqKeys& keys, std::string_view ap_req) {
  AuthContext ac(ctx);
  if (krb5_error_code code = ac.init(keys.rcache); code != 0) {
    return failure(ctx, code, "krb5 auth context");
  }
  krb5_data in{};
  in.length = static_cast<unsigned int>(ap_req.size());
  in.data = const_cast<char*>(ap_req.data());
  krb5_flags ap_options = 0;
  krb5_ticket* raw_ticket = nullptr;
  krb5_error_code code =
      krb5_rd_req(ctx, ac.inout(), &in, keys.server, keys.keytab, &ap_options, &raw_ticket);
  std::unique_ptr<krb5_ticket, TicketDeleter> ticket(raw_ticket, TicketDeleter{ctx});
  if (code != 0) return failure(ctx, code, "krb5_rd_req");
  krb5_auth_con_setflags(ctx, ac.get(), KRB5_AUTH_CONTEXT_DO_SEQUENCE);

  krb5_authenticator* raw_auth = nullptr;
  if (code = krb5_auth_con_getauthenticator(ctx, ac.get(), &raw_auth); code != 0) {
    return failure(ctx, code, "reading the authenticator");
  }
  std::unique_ptr<krb5_authenticator, AuthenticatorDeleter> auth(raw_auth,
                                                                 AuthenticatorDeleter{ctx});
  const krb5_checksum* ck = auth->checksum;
  if (ck == nullptr || ck->checksum_type != kGssChecksum || ck->length < kMinGssChecksum ||
      load32le(ck->contents) != kBindingLength) {
    ApReqResult r;
    r.code = KRB5KRB_AP_ERR_INAPP_CKSUM;
    r.error = "the authenticator carries no GSS-API (0x8003) checksum";
    return r;
  }
  const uint32_t flags = load32le(ck->contents + 20);
  ApReqResult r;
  const krb5_principal client = ticket->enc_part2->client;
  if ((flags & GSS_C_DELEG_FLAG) != 0 && ck->length >= kMinGssChecksum + 4) {
    const uint16_t option = load16le(ck->contents + 24);
    const uint16_t length = load16le(ck->contents + 26);
    if (option != kDelegationOption || kMinGssChecksum + 4U + length > ck->length) {
      ApReqResult bad;
      bad.code = KRB5KRB_AP_ERR_MSG_TYPE;
      bad.error = "malformed delegation option in the authenticator checksum";
      return bad;
    }
    krb5_data krb_cred{};
    krb_cred.length = length;
    krb_cred.data = reinterpret_cast<char*>(ck->contents + 28);
    r.delegated_tgt = forwardedTgt(ctx, ac.get(), client, krb_cred, code);
    if (code != 0) return failure(ctx, code, "reading the delegated credential");
  }
  if ((flags & GSS_C_MUTUAL_FLAG) != 0) {
    krb5_data rep{};
    if (code = krb5_mk_rep(ctx, ac.get(), &rep); code != 0) {
      return failure(ctx, code, "krb5_mk_rep");
    }
    r.ap_rep.assign(rep.data, rep.length);
    krb5_free_data_contents(ctx, &rep);
  }
  char* name = nullptr;
  if (code = krb5_unparse_name(ctx, client, &name); code != 0) {
    return failure(ctx, code, "krb5_unparse_name");
  }
  r.client = name;
  krb5_free_unparsed_name(ctx, name);
  r.anonymous = krb5_principal_compare_any_realm(ctx, client, krb5_anonymous_principal()) != 0;
  r.ticket_end = ticket->enc_part2->times.endtime;
  return r;
}

}  // namespace gssgate::proxy

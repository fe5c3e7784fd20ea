#include "client/doctor/kdc_check.h"

#include <krb5/krb5.h>
#include <profile.h>

#include <cstdlib>
#include <ctime>

#include "common/krb5_handles.h"
#include "common/strings.h"

namespace gssgate::client {
namespace {

constexpr int64_t kDefaultClockSkew = 300;  // MIT's default `clockskew`
constexpr int64_t kSkewWarnSeconds = 60;

// Owners this file needs beyond common/krb5_handles.h.
void freeTicket(krb5_context c, krb5_ticket* h) { krb5_free_ticket(c, h); }
using Krb5Ticket = Krb5Handle<krb5_ticket*, freeTicket>;

// A krb5 profile handle from krb5_get_profile.
class ProfileHandle {
 public:
  explicit ProfileHandle(krb5_context ctx) {
    if (krb5_get_profile(ctx, &profile_) != 0) profile_ = nullptr;
  }
  ProfileHandle(const ProfileHandle&) = delete;
  ProfileHandle& operator=(const ProfileHandle&) = delete;
  ProfileHandle(ProfileHandle&&) = delete;
  ProfileHandle& operator=(ProfileHandle&&) = delete;
  ~ProfileHandle() {
    if (profile_ != nullptr) profile_release(profile_);
  }
  profile_t get() const { return profile_; }

 private:
  profile_t profile_ = nullptr;
};

int64_t allowedSkew(krb5_context ctx) {
  const ProfileHandle profile(ctx);
  int value = static_cast<int>(kDefaultClockSkew);
  if (profile.get() == nullptr ||
      profile_get_integer(profile.get(), "libdefaults", "clockskew", nullptr,
                          static_cast<int>(kDefaultClockSkew), &value) != 0) {
    return kDefaultClockSkew;
  }
  return value;
}

// Krb5 timestamps are unsigned 32-bit seconds since MIT 1.15 (good until 2106).
int64_t unixSeconds(krb5_timestamp t) { return static_cast<int64_t>(static_cast<uint32_t>(t)); }

CheckResult skip(std::string_view check, std::string_view why) {
  return {Verdict::kSkip, std::string(check), std::string(why), ""};
}

std::string reexportFix(const KdcCheckInput& in) {
  return strCat("export the current key again: kadmin -q 'ktadd -k ", in.keytab, " -norandkey ",
                in.principal,
                "' (MIT) or msktutil --update (Active Directory), then SIGHUP "
                "gssgate-proxy");
}

std::string realmOf(std::string_view principal) {
  const size_t at = principal.rfind('@');
  return at == std::string_view::npos ? std::string() : std::string(principal.substr(at + 1));
}

}  // namespace

CheckResult evaluateSkew(int64_t kdc_minus_local, int64_t allowed) {
  const int64_t magnitude = std::llabs(kdc_minus_local);
  const std::string finding =
      magnitude == 0 ? std::string("this host's clock agrees with the KDC's (within 1 s)")
                     : strCat("this host's clock is ", magnitude, " s ",
                              kdc_minus_local > 0 ? "behind" : "ahead of",
                              " the KDC's (allowed: ", allowed, " s, krb5.conf clockskew)");
  const std::string fix =
      "synchronise the clocks of this host and the KDC (chrony or systemd-timesyncd against "
      "the same time source; in Active Directory the domain controllers are the time source)";
  if (magnitude > allowed) {
    return {Verdict::kFail, "clock-skew",
            strCat(finding, ": every sign-in fails with 'Clock skew too great'"), fix};
  }
  if (magnitude >= std::min(kSkewWarnSeconds, allowed / 2)) {
    return {Verdict::kWarn, "clock-skew", strCat(finding, ": close to the limit"), fix};
  }
  return {Verdict::kOk, "clock-skew", finding, ""};
}

CheckResult evaluateKvno(const KdcCheckInput& in, uint32_t kdc_kvno,
                         std::string_view decrypt_error) {
  if (kdc_kvno != in.keytab_kvno && in.keytab_kvno < kdc_kvno) {
    return {Verdict::kFail, "kvno",
            strCat("keytab ", in.keytab, " has kvno ", in.keytab_kvno, " for ", in.principal,
                   " but the KDC issues kvno ", kdc_kvno,
                   ": the key was changed after the keytab was exported"),
            reexportFix(in)};
  }
  if (!decrypt_error.empty()) {
    return {Verdict::kFail, "kvno",
            strCat("the keytab cannot decrypt a ticket the KDC issues for ", in.principal,
                   " (kvno ", kdc_kvno, "): ", decrypt_error),
            reexportFix(in)};
  }
  if (kdc_kvno != in.keytab_kvno) {
    return {
        Verdict::kWarn, "kvno",
        strCat("the KDC issues kvno ", kdc_kvno, " for ", in.principal, ", the keytab's newest is ",
               in.keytab_kvno, "; the keytab still decrypts the ticket"),
        reexportFix(in)};
  }
  return {Verdict::kOk, "kvno",
          strCat("the KDC issues kvno ", kdc_kvno, " for ", in.principal,
                 ", the keytab has it and decrypts a fresh ticket"),
          ""};
}

CheckResult evaluateOkAsDelegate(std::string_view principal, bool ok_as_delegate,
                                 bool broker_configured) {
  if (ok_as_delegate) {
    return {Verdict::kOk, "ok-as-delegate",
            strCat(principal, " has ok_as_delegate: browsers may delegate to it"), ""};
  }
  const std::string fix =
      strCat("set it with kadmin -q 'modprinc +ok_as_delegate ", principal,
             "' (MIT) or, in Active Directory, 'Trust this computer/user for delegation' on the "
             "account holding the SPN");
  if (broker_configured) {
    return {Verdict::kWarn, "ok-as-delegate",
            strCat(principal,
                   " lacks ok_as_delegate: browsers (Chrome/Edge/Firefox) will not delegate "
                   "the user's ticket, so there is no X-Gssgate-Credential (curl "
                   "--delegation always still does)"),
            fix};
  }
  return {Verdict::kOk, "ok-as-delegate",
          strCat(principal,
                 " lacks ok_as_delegate (fine: no `broker` is configured, nothing is delegated)"),
          ""};
}

KdcFindings explainAsFailure(int32_t code, std::string_view message, const KdcCheckInput& in,
                             std::string_view realm) {
  KdcFindings f;
  const std::string not_reached = "not checked: no ticket from the KDC";
  f.skew = skip("clock-skew", not_reached);
  f.kvno = skip("kvno", not_reached);
  f.delegate = skip("ok-as-delegate", not_reached);
  const std::string reached =
      strCat("the KDC for ", realm, " is reachable (it answered for ", in.principal, ")");
  switch (code) {
    case KRB5_KDC_UNREACH:
      f.kdc = {Verdict::kFail, "kdc",
               strCat("cannot reach any KDC for realm ", realm, " (", message, ")"),
               strCat("start the KDC, or check the `kdc =` lines of [realms] ", realm,
                      " in krb5.conf (KRB5_CONFIG) and that port 88 (TCP and UDP) is open "
                      "from this host")};
      break;
    case KRB5_REALM_UNKNOWN:
    case KRB5_REALM_CANT_RESOLVE:
      f.kdc = {Verdict::kFail, "kdc",
               strCat("no KDC is known for realm ", realm, " (", message, ")"),
               strCat("add [realms] ", realm,
                      " = { kdc = HOST } to krb5.conf, or set dns_lookup_kdc = true")};
      break;
    case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
      f.kdc = {Verdict::kFail, "kdc",
               strCat("the KDC for ", realm, " does not know ", in.principal,
                      ": wrong service name or realm"),
               strCat("create it (kadmin -q 'addprinc -randkey ", in.principal,
                      "') and export it, or set `acceptor` to the name the KDC has; in Active "
                      "Directory register the SPN (setspn -S); to test an SPN that cannot sign in "
                      "itself, the keytab must also hold its account (msktutil exports both)")};
      break;
    case KRB5KDC_ERR_PREAUTH_FAILED:
    case KRB5KRB_AP_ERR_BAD_INTEGRITY:
      f.kdc = {Verdict::kOk, "kdc", reached, ""};
      f.kvno = {Verdict::kFail, "kvno",
                strCat("keytab ", in.keytab, " has kvno ", in.keytab_kvno, " for ", in.principal,
                       " but the KDC rejects that key: the key was changed after the keytab "
                       "was exported (the KDC's kvno is newer)"),
                reexportFix(in)};
      break;
    case KRB5KRB_AP_ERR_SKEW:
      f.kdc = {Verdict::kOk, "kdc", reached, ""};
      f.skew = {Verdict::kFail, "clock-skew",
                "the KDC refused the request: clock skew too great (this host's clock is off "
                "by more than the allowed skew, krb5.conf clockskew)",
                "synchronise the clocks of this host and the KDC (chrony or "
                "systemd-timesyncd against the same time source)"};
      break;
    case KRB5KDC_ERR_ETYPE_NOSUPP:
    case KRB5_KT_NOTFOUND:
      f.kdc = {Verdict::kFail, "kdc",
               strCat("the keytab holds no key of an encryption type the KDC offers for ",
                      in.principal, " (", message, ")"),
               reexportFix(in)};
      break;
    case KRB5KDC_ERR_CLIENT_REVOKED:
    case KRB5KDC_ERR_KEY_EXP:
      f.kdc = {Verdict::kFail, "kdc",
               strCat("the KDC refuses ", in.principal, ": ", message,
                      " (the account is disabled, locked or expired)"),
               strCat("enable the account holding ", in.principal, " in the KDC")};
      break;
    default:
      f.kdc = {Verdict::kFail, "kdc",
               strCat("getting a ticket as ", in.principal, " with keytab ", in.keytab,
                      " failed: ", message),
               "check krb5.conf (KRB5_CONFIG) and the KDC's log"};
      break;
  }
  return f;
}

KdcFindings checkKdc(const KdcCheckInput& in) {
  absl::StatusOr<Krb5Context> owned = Krb5Context::create();
  if (!owned.ok()) {
    const std::string why = "not checked: krb5 unusable";
    return {{Verdict::kFail, "kdc", messageOf(owned.status()), "fix krb5.conf (KRB5_CONFIG)"},
            skip("clock-skew", why),
            skip("kvno", why),
            skip("ok-as-delegate", why)};
  }
  krb5_context ctx = owned->get();
  const std::string realm = realmOf(in.principal);
  auto fail = [&](krb5_error_code code) {
    return explainAsFailure(code, krb5ErrorMessage(ctx, code), in, realm);
  };
  Krb5Principal princ(ctx);
  if (krb5_error_code code = krb5_parse_name(ctx, in.principal.c_str(), princ.out()); code != 0) {
    return fail(code);
  }
  Krb5Keytab kt(ctx);
  const std::string kt_name = strCat("FILE:", in.keytab);
  if (krb5_error_code code = krb5_kt_resolve(ctx, kt_name.c_str(), kt.out()); code != 0) {
    return fail(code);
  }

  // AS exchange as the service itself: proves the KDC is reachable and holds the same key.
  Krb5CredContents tgt(ctx);
  krb5_error_code as_code =
      krb5_get_init_creds_keytab(ctx, tgt.get(), princ.get(), kt.get(), 0, nullptr, nullptr);
  // An Active Directory SPN that is not also the account's sign-in name is "unknown" as a
  // client; a TGT of another principal of the keytab (e.g. the account, HOST$) still lets
  // us ask for a ticket to the SPN. MIT fills `tgt` only on success, so it can be reused.
  std::string signed_in_as = in.principal;
  for (size_t i = 0; as_code == KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN && i < in.other_principals.size();
       ++i) {
    Krb5Principal other(ctx);
    if (krb5_parse_name(ctx, in.other_principals[i].c_str(), other.out()) != 0) continue;
    if (krb5_get_init_creds_keytab(ctx, tgt.get(), other.get(), kt.get(), 0, nullptr, nullptr) ==
        0) {
      as_code = 0;
      signed_in_as = in.other_principals[i];
    }
  }
  if (as_code != 0) return fail(as_code);
  const bool via_other = signed_in_as != in.principal;
  // Wall-clock time, not krb5_timeofday (which may include an offset learnt from the KDC).
  const auto now = static_cast<int64_t>(::time(nullptr));
  KdcFindings f;
  f.kdc = {Verdict::kOk, "kdc",
           via_other ? strCat("the KDC for ", realm, " is reachable; ", in.principal,
                              " cannot sign in itself (an SPN alias), so it was asked for with a "
                              "TGT of ",
                              signed_in_as, " from the same keytab")
                     : strCat("the KDC for ", realm,
                              " is reachable and accepts the keytab's key for ", in.principal),
           ""};
  f.skew = evaluateSkew(unixSeconds(tgt.get()->times.authtime) - now, allowedSkew(ctx));

  // TGS request for the service itself: the ticket the proxy would be given.
  Krb5DestroyingCcache cc(ctx);
  krb5_error_code code = krb5_cc_new_unique(ctx, "MEMORY", nullptr, cc.out());
  if (code == 0) code = krb5_cc_initialize(ctx, cc.get(), tgt.get()->client);
  if (code == 0) code = krb5_cc_store_cred(ctx, cc.get(), tgt.get());
  Krb5Creds service(ctx);
  if (code == 0) {
    krb5_creds request{};
    request.client = tgt.get()->client;
    request.server = princ.get();
    code = krb5_get_credentials(ctx, 0, cc.get(), &request, service.out());
  }
  if (code != 0 && via_other && code == KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN) {
    KdcFindings unknown =
        explainAsFailure(KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, krb5ErrorMessage(ctx, code), in, realm);
    unknown.kdc.finding += strCat(" (asked with a TGT of ", signed_in_as, ")");
    return unknown;
  }
  if (code != 0) {
    const std::string message = krb5ErrorMessage(ctx, code);
    f.kvno = {
        Verdict::kFail, "kvno",
        strCat("the KDC issued a TGT but no service ticket for ", in.principal, ": ", message),
        "check the principal's flags in the KDC (e.g. -allow_svr) and the KDC's log"};
    f.delegate = skip("ok-as-delegate", "not checked: no service ticket");
    return f;
  }
  Krb5Ticket ticket(ctx);
  uint32_t kdc_kvno = 0;
  if (krb5_decode_ticket(&service.get()->ticket, ticket.out()) == 0) {
    kdc_kvno = ticket.get()->enc_part.kvno;
  }
  // What the proxy does with a client's ticket: find the key by kvno and enctype, decrypt.
  std::string decrypt_error;
  if (ticket) {
    if (krb5_error_code dc = krb5_server_decrypt_ticket_keytab(ctx, kt.get(), ticket.get());
        dc != 0) {
      decrypt_error = krb5ErrorMessage(ctx, dc);
    }
  } else {
    decrypt_error = "the ticket could not be decoded";
  }
  f.kvno = evaluateKvno(in, kdc_kvno, decrypt_error);
  f.delegate = evaluateOkAsDelegate(in.principal,
                                    (static_cast<uint32_t>(service.get()->ticket_flags) &
                                     static_cast<uint32_t>(TKT_FLG_OK_AS_DELEGATE)) != 0,
                                    in.broker_configured);
  return f;
}

}  // namespace gssgate::client

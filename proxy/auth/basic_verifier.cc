#include "proxy/auth/basic_verifier.h"

#include <krb5/krb5.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <optional>
#include <system_error>

#include "common/base64.h"
#include "common/krb5_handles.h"
#include "common/secure_wipe.h"
#include "common/strings.h"
#include "proxy/auth/header_safe_name.h"

namespace gssgate::proxy {
namespace {

using Outcome = BasicResult::Outcome;

// Owners this file needs beyond common/krb5_handles.h, built on the same template.
void freeInitCredsOpt(krb5_context c, krb5_get_init_creds_opt* h) {
  krb5_get_init_creds_opt_free(c, h);
}
void freeDefaultRealm(krb5_context c, char* h) { krb5_free_default_realm(c, h); }
using Krb5InitCredsOpt = Krb5Handle<krb5_get_init_creds_opt*, freeInitCredsOpt>;
using Krb5DefaultRealm = Krb5Handle<char*, freeDefaultRealm>;

// The longest base64 text that can decode to a user and password within the limits.
constexpr size_t kMaxEncodedBytes =
    (BasicVerifier::kMaxUserBytes + 1 + BasicVerifier::kMaxPasswordBytes + 2) / 3 * 4;

bool hasControlBytes(std::string_view s) {
  return std::ranges::any_of(s, [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

// Krb5 timestamps are unsigned 32-bit seconds since MIT 1.15 (good until 2106).
int64_t unixSeconds(krb5_timestamp t) { return static_cast<int64_t>(static_cast<uint32_t>(t)); }

BasicResult reject(Outcome outcome, const char* reason, std::string detail) {
  BasicResult r;
  r.outcome = outcome;
  r.reason = reason;
  r.detail = std::move(detail);
  return r;
}

BasicResult malformed(std::string detail) {
  return reject(Outcome::kMalformed, "malformed", std::move(detail));
}

bool kdcUnreachable(krb5_error_code code) {
  return code == KRB5_KDC_UNREACH || code == KRB5_REALM_CANT_RESOLVE || code == KRB5_REALM_UNKNOWN;
}

// Sorts a krb5_get_init_creds_password failure into an outcome and a metric label.
void classifyLoginError(krb5_error_code code, BasicResult& r) {
  switch (code) {
    case KRB5KDC_ERR_PREAUTH_FAILED:
    case KRB5KRB_AP_ERR_BAD_INTEGRITY:  // no preauth required: the reply did not decrypt
      r.outcome = Outcome::kBadCredentials;
      r.reason = "bad_password";
      return;
    case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
      r.outcome = Outcome::kBadCredentials;
      r.reason = "unknown_user";
      return;
    case KRB5KDC_ERR_KEY_EXP:
      r.outcome = Outcome::kBadCredentials;
      r.reason = "password_expired";
      return;
    case KRB5KDC_ERR_CLIENT_REVOKED:  // disabled or locked out
    case KRB5KDC_ERR_NAME_EXP:        // principal expired
      r.outcome = Outcome::kBadCredentials;
      r.reason = "account_disabled";
      return;
    case KRB5KRB_AP_ERR_SKEW:  // our clock, not the user's fault
      r.outcome = Outcome::kUnavailable;
      r.reason = "clock_skew";
      return;
    default:
      break;
  }
  if (kdcUnreachable(code)) {
    r.outcome = Outcome::kUnavailable;
    r.reason = "kdc_unreachable";
    return;
  }
  r.outcome = Outcome::kBadCredentials;
  r.reason = "login_failed";
}

// Parsed and bounded "user:password"; `password` points into `decoded` (NUL-terminated there).
struct BasicCredentials {
  SecretString decoded;
  std::string user;
  const char* password = nullptr;
};

// Decodes and checks the syntax; returns a malformed result (outcome set) on failure.
std::optional<BasicResult> parseCredentials(std::string_view text, BasicCredentials& out) {
  text = trimAscii(text);
  if (text.empty()) return malformed("empty credentials");
  if (text.size() > kMaxEncodedBytes) return malformed("credentials too long");
  auto bytes = base64Decode(text);
  if (!bytes) return malformed("credentials are not canonical base64");
  out.decoded = SecretString(std::move(*bytes));
  const std::string& s = out.decoded.str();
  const size_t colon = s.find(':');
  if (colon == std::string::npos) return malformed("no ':' between user and password");
  const std::string_view all = s;
  const std::string_view user = all.substr(0, colon);
  const std::string_view password = all.substr(colon + 1);
  // An empty field is what a person sends by pressing Enter in the browser's dialog: ask
  // again (401), don't strand them on a 400 page.
  if (user.empty() || password.empty()) {
    return reject(Outcome::kBadCredentials, "login_failed", "empty user name or password");
  }
  if (user.size() > BasicVerifier::kMaxUserBytes) return malformed("user name too long");
  if (password.size() > BasicVerifier::kMaxPasswordBytes) return malformed("password too long");
  if (hasControlBytes(user)) return malformed("control bytes in user name");
  // krb5 takes the password as a C string: an embedded NUL would silently truncate it.
  if (password.find('\0') != std::string_view::npos) return malformed("NUL in password");
  out.user = std::string(user);
  out.password = s.c_str() + colon + 1;
  return std::nullopt;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BasicVerifier>> BasicVerifier::create(const std::string& keytab,
                                                                     const std::string& acceptor) {
  if (::access(keytab.c_str(), R_OK) != 0) {
    return absl::FailedPreconditionError(
        strCat("keytab '", keytab,
               "' is not readable: ", std::error_code(errno, std::generic_category()).message()));
  }
  auto ctx = Krb5Context::create();
  if (!ctx.ok()) return ctx.status();
  krb5_context c = ctx->get();
  std::string ktName = "FILE:" + keytab;
  Krb5Keytab kt(c);
  if (krb5_error_code code = krb5_kt_resolve(c, ktName.c_str(), kt.out()); code != 0) {
    return absl::FailedPreconditionError(
        strCat("keytab '", keytab, "': ", krb5ErrorMessage(c, code)));
  }
  Krb5Principal server(c);
  if (!acceptor.empty()) {
    if (krb5_error_code code = krb5_parse_name(c, acceptor.c_str(), server.out()); code != 0) {
      return absl::InvalidArgumentError(
          strCat("acceptor '", acceptor, "': ", krb5ErrorMessage(c, code)));
    }
  }
  // The acceptor must have a key in the keytab; without one, the first principal is used.
  krb5_kt_cursor cursor = nullptr;
  if (krb5_error_code code = krb5_kt_start_seq_get(c, kt.get(), &cursor); code != 0) {
    return absl::FailedPreconditionError(
        strCat("keytab '", keytab, "': ", krb5ErrorMessage(c, code)));
  }
  size_t entries = 0;
  bool found = false;
  krb5_keytab_entry entry;
  while (krb5_kt_next_entry(c, kt.get(), &entry, &cursor) == 0) {
    ++entries;
    if (!server) {
      if (krb5_copy_principal(c, entry.principal, server.out()) == 0) found = true;
    } else if (krb5_principal_compare(c, entry.principal, server.get()) != 0) {
      found = true;
    }
    krb5_free_keytab_entry_contents(c, &entry);
  }
  krb5_kt_end_seq_get(c, kt.get(), &cursor);
  if (entries == 0) {
    return absl::FailedPreconditionError(strCat("keytab '", keytab, "' holds no keys"));
  }
  if (!found) {
    return absl::FailedPreconditionError(
        strCat("keytab '", keytab, "' holds no key for acceptor '", acceptor, "'"));
  }
  Krb5String name(c);
  if (krb5_error_code code = krb5_unparse_name(c, server.get(), name.out()); code != 0) {
    return absl::InternalError(strCat("acceptor name: ", krb5ErrorMessage(c, code)));
  }
  const krb5_data& realm = server.get()->realm;
  if (realm.length == 0) {
    return absl::InvalidArgumentError(strCat("acceptor '", name.get(), "' has no realm"));
  }
  return std::make_unique<BasicVerifier>(Key{}, std::move(ktName), std::string(name.get()),
                                         std::string(realm.data, realm.length));
}

BasicResult BasicVerifier::verify(std::string_view credentials) const {
  BasicCredentials in;
  if (auto bad = parseCredentials(credentials, in)) return std::move(*bad);

  auto ctxOr = Krb5Context::create();
  if (!ctxOr.ok()) return reject(Outcome::kUnavailable, "internal", messageOf(ctxOr.status()));
  krb5_context ctx = ctxOr->get();

  // name[@REALM] with a single-component name; everything else is refused before any KDC
  // traffic. Building the principal from parts leaves nothing for krb5_parse_name to interpret.
  std::string_view name = in.user;
  std::string realm;
  // Split at the last '@' so that an enterprise-style "user@domain@REALM" keeps its '@' in
  // the name, and is refused for that below.
  if (const size_t at = name.rfind('@'); at != std::string_view::npos) {
    realm = std::string(name.substr(at + 1));
    name = name.substr(0, at);
    if (name.empty()) return malformed("empty user name");
  } else {
    Krb5DefaultRealm def(ctx);
    realm = krb5_get_default_realm(ctx, def.out()) == 0 ? std::string(def.get()) : realm_;
  }
  if (name.find_first_of("@/\\") != std::string_view::npos) {
    return reject(Outcome::kBadCredentials, "name_not_allowed",
                  strCat("user name '", in.user, "' is not a plain name[@REALM]"));
  }
  if (!equalsIgnoreCase(realm, realm_)) {
    return reject(Outcome::kBadCredentials, "wrong_realm",
                  strCat("user '", in.user, "' is not in realm ", realm_));
  }
  const std::string nameStr(name);
  Krb5Principal client(ctx);
  if (krb5_error_code code =
          krb5_build_principal(ctx, client.out(), static_cast<unsigned int>(realm_.size()),
                               realm_.c_str(), nameStr.c_str(), static_cast<const char*>(nullptr));
      code != 0) {
    return reject(Outcome::kUnavailable, "internal", krb5ErrorMessage(ctx, code));
  }
  BasicResult r;
  {
    Krb5String unparsed(ctx);
    if (krb5_unparse_name(ctx, client.get(), unparsed.out()) == 0) r.principal = unparsed.get();
  }

  // 1. A TGT with the password. No ccache, no prompter (so no password-change dialogue), and
  // no forwardable/proxiable/renewable flags: the ticket only lives until this call returns.
  // The lifetime is krb5.conf's default, so `ticket_end` reflects the user's real allowance.
  Krb5InitCredsOpt opt(ctx);
  if (krb5_error_code code = krb5_get_init_creds_opt_alloc(ctx, opt.out()); code != 0) {
    return reject(Outcome::kUnavailable, "internal", krb5ErrorMessage(ctx, code));
  }
  krb5_get_init_creds_opt_set_forwardable(opt.get(), 0);
  krb5_get_init_creds_opt_set_proxiable(opt.get(), 0);
  krb5_get_init_creds_opt_set_renew_life(opt.get(), 0);
  krb5_get_init_creds_opt_set_change_password_prompt(opt.get(), 0);
  Krb5CredContents tgt(ctx);
  if (krb5_error_code code = krb5_get_init_creds_password(ctx, tgt.get(), client.get(), in.password,
                                                          nullptr, nullptr, 0, nullptr, opt.get());
      code != 0) {
    r.detail = strCat("getting a TGT for ", r.principal, ": ", krb5ErrorMessage(ctx, code));
    classifyLoginError(code, r);
    return r;
  }
  // Without canonicalization MIT requires the reply's client to be the one requested; check
  // anyway, since everything below trusts it.
  if (krb5_principal_compare(ctx, tgt.get()->client, client.get()) == 0) {
    return reject(Outcome::kBadCredentials, "verify_failed",
                  strCat("KDC answered for another client than ", r.principal));
  }
  r.ticket_end = unixSeconds(tgt.get()->times.endtime);

  // 2. Prove the TGT came from our KDC: a service ticket for our own principal, obtained with
  // it, must decrypt with the keytab. ap_req_nofail: a missing key fails instead of passing.
  Krb5Principal server(ctx);
  if (krb5_error_code code = krb5_parse_name(ctx, server_.c_str(), server.out()); code != 0) {
    return reject(Outcome::kUnavailable, "internal", krb5ErrorMessage(ctx, code));
  }
  Krb5Keytab kt(ctx);
  if (krb5_error_code code = krb5_kt_resolve(ctx, keytab_.c_str(), kt.out()); code != 0) {
    return reject(Outcome::kUnavailable, "internal", krb5ErrorMessage(ctx, code));
  }
  krb5_verify_init_creds_opt vopt;
  krb5_verify_init_creds_opt_init(&vopt);
  krb5_verify_init_creds_opt_set_ap_req_nofail(&vopt, 1);
  if (krb5_error_code code =
          krb5_verify_init_creds(ctx, tgt.get(), server.get(), kt.get(), nullptr, &vopt);
      code != 0) {
    r.ticket_end = 0;
    r.detail = strCat("verifying the TGT of ", r.principal, " with the keytab key of ", server_,
                      ": ", krb5ErrorMessage(ctx, code));
    if (kdcUnreachable(code)) {
      r.outcome = Outcome::kUnavailable;
      r.reason = "kdc_unreachable";
    } else {
      // Typically "Decrypt integrity check failed": the KDC that answered does not hold our
      // service key (a rogue KDC), or the keytab is out of date.
      r.outcome = Outcome::kBadCredentials;
      r.reason = "verify_failed";
    }
    return r;
  }

  // 3. The local name, as NegotiateAuthenticator maps it (krb5 auth_to_local rules).
  std::array<char, 1024> buf{};
  if (krb5_error_code code =
          krb5_aname_to_localname(ctx, client.get(), static_cast<int>(buf.size() - 1), buf.data());
      code != 0) {
    r.outcome = Outcome::kForbidden;
    r.reason = "no_local_name";
    r.detail = strCat("no local name for ", r.principal, ": ", krb5ErrorMessage(ctx, code));
    return r;
  }
  std::string local(buf.data());
  if (!isHeaderSafeName(local) || !isHeaderSafeName(r.principal)) {
    r.outcome = Outcome::kForbidden;
    r.reason = "no_local_name";
    r.detail = strCat("empty or unsafe local name for ", r.principal);
    return r;
  }
  r.local_name = std::move(local);
  r.outcome = Outcome::kOk;
  r.reason = "ok";
  return r;
}

}  // namespace gssgate::proxy

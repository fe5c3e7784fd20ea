// Fuzz target (c): the session cookie — Cookie header helpers (findCookie, findCookies,
// removeCookie, as the proxy uses them to find and to strip its cookie) and SessionCodec::open
// on cookie values. The first byte picks what the rest is:
//   0: a Cookie header value;  1: a cookie value to open;
//   2: a cookie plaintext, sealed here with the fixed key and opened (reaches the field
//      reader behind the AEAD, which random bytes never pass).
// Oracle: stripping leaves no cookie of that name and is idempotent; found values lie inside
// the header; an opened session is well-formed, unexpired, and survives seal → open unchanged;
// any one-byte change to a sealed value is refused.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/aead.h"
#include "common/base64.h"
#include "proxy/session/session_cookie.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_keys.h"

namespace {

using gssgate::proxy::Session;
using gssgate::proxy::SessionCodec;
using gssgate::proxy::SessionKeys;

constexpr std::string_view kName = "gssgate_session";

const SessionCodec& codec() {
  static const SessionCodec c([] {
    auto keys = SessionKeys::parse(gssgate::base64Encode(gssgate::fuzz::kSessionKey), "fuzz");
    FUZZ_CHECK(keys.ok(), "fixed session key refused");
    return *keys;
  }());
  return c;
}

bool sameSession(const Session& a, const Session& b) {
  return a.principal == b.principal && a.local_name == b.local_name && a.issued_at == b.issued_at &&
         a.expires_at == b.expires_at && a.session_id == b.session_id &&
         a.credential_id == b.credential_id &&
         (!a.hasCredential() || (a.credential_expires_at == b.credential_expires_at &&
                                 a.handle_key_id == b.handle_key_id));
}

void checkOpened(const Session& s, std::string_view value) {
  using gssgate::fuzz::kNow;
  FUZZ_CHECK(!s.principal.empty() && !s.local_name.empty(), "session without a name");
  FUZZ_CHECK(s.expires_at > kNow, "expired session opened");
  FUZZ_CHECK(s.issued_at <= kNow + 300, "session from the future opened");
  FUZZ_CHECK(s.session_id.size() == SessionCodec::kSessionIdBytes, "bad session id size");
  FUZZ_CHECK(s.credential_id.empty() || s.credential_id.size() == SessionCodec::kCredentialIdBytes,
             "bad credential id size");
  auto again = codec().open(codec().seal(s), kNow);
  FUZZ_CHECK(again && sameSession(*again, s), "seal(open(x)) does not open to the same session");
  // Tampering: flip one character of the value (chosen by its length).
  std::string bad(value);
  const size_t at = bad.size() / 2;
  bad[at] = bad[at] == 'A' ? 'B' : 'A';
  FUZZ_CHECK(!codec().open(bad, kNow), "an altered cookie opened");
}

void headerMode(std::string_view header) {
  for (std::string_view v : gssgate::proxy::findCookies(header, kName)) {
    FUZZ_CHECK(v.data() >= header.data() && v.data() + v.size() <= header.data() + header.size(),
               "found cookie value outside the header");
    if (auto s = codec().open(v, gssgate::fuzz::kNow)) checkOpened(*s, v);
  }
  auto first = gssgate::proxy::findCookie(header, kName);
  FUZZ_CHECK(first.has_value() == !gssgate::proxy::findCookies(header, kName).empty(),
             "findCookie and findCookies disagree");
  const std::string stripped = gssgate::proxy::removeCookie(header, kName);
  FUZZ_CHECK(!gssgate::proxy::findCookie(stripped, kName), "session cookie survived stripping");
  FUZZ_CHECK(gssgate::proxy::removeCookie(stripped, kName) == stripped,
             "stripping is not idempotent");
}

void openMode(std::string_view value) {
  if (auto s = codec().open(value, gssgate::fuzz::kNow)) checkOpened(*s, value);
}

void plaintextMode(std::string_view plain) {
  // The cookie format of session_cookie.h, built here around arbitrary plaintext.
  static const auto keys =
      SessionKeys::parse(gssgate::base64Encode(gssgate::fuzz::kSessionKey), "fuzz");
  const uint32_t id = (*keys)->keys().front().id;
  std::string be;
  for (int i = 3; i >= 0; --i) be += static_cast<char>((id >> (8 * i)) & 0xFFU);
  const std::string aad = "gssgate session v1|" + be;
  const gssgate::Aead aead(gssgate::fuzz::kSessionKey);
  const std::string value = gssgate::base64UrlEncode(be + aead.seal(plain, aad));
  if (value.size() > SessionCodec::kMaxCookieChars) return;
  openMode(value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      headerMode(rest);
      break;
    case 1:
      openMode(rest);
      break;
    default:
      plaintextMode(rest);
      break;
  }
  return 0;
}

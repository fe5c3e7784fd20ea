// Fuzz target (b): an `Authorization` header value → parseAuthorization (scheme, strict
// base64) → checkNegotiateToken (DER pre-checks before any GSS call). The same bytes also go
// to checkNegotiateToken directly (so raw tokens captured from the test realm are seeds) and
// to the base64 codecs.
//
// The same token also goes to parseSpnegoKrb5Init (the shape accepted with krb5 directly).
//
// Oracle: a decoded token re-encodes to exactly the text it came from (one accepted encoding
// per byte string), respects the size bound, and every verdict of the pre-check agrees with an
// independent reading of the DER framing.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/base64.h"
#include "proxy/auth/negotiate_header.h"
#include "proxy/auth/spnego_token.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using gssgate::proxy::AuthorizationKind;
using gssgate::proxy::TokenCheck;

constexpr size_t kMaxToken = 64 * 1024;  // limits.header_bytes default
constexpr std::string_view kSpnegoOid("\x06\x06\x2b\x06\x01\x05\x05\x02", 8);

// ASCII whitespace as HTTP field values may carry it: SP, HTAB, CR, LF.
bool ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
std::string_view trim(std::string_view s) {
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

// Independent DER: the total size of the TLV at the front of `in` (definite lengths only).
std::optional<size_t> tlvSize(std::string_view in) {
  if (in.size() < 2) return std::nullopt;
  auto first = static_cast<uint8_t>(in[1]);
  if (first < 0x80) return 2 + size_t{first};
  const size_t count = first & 0x7fU;
  if (count == 0 || count > 4 || in.size() < 2 + count) return std::nullopt;
  size_t len = 0;
  for (size_t i = 0; i < count; ++i) len = len * 256 + static_cast<uint8_t>(in[2 + i]);
  return 2 + count + len;
}

void checkToken(std::string_view token) {
  const TokenCheck c = gssgate::proxy::checkNegotiateToken(token);
  const bool ntlm = token.starts_with(std::string_view("NTLMSSP\0", 8));
  FUZZ_CHECK((c == TokenCheck::kNtlm) == ntlm, "NTLM verdict disagrees with the NTLMSSP prefix");
  if (c == TokenCheck::kSpnegoInit || c == TokenCheck::kOtherMech || c == TokenCheck::kSpnegoResp) {
    auto total = tlvSize(token);
    FUZZ_CHECK(total && *total == token.size(), "accepted token whose DER length is not its size");
  }
  if (c == TokenCheck::kSpnegoInit || c == TokenCheck::kOtherMech) {
    FUZZ_CHECK(static_cast<uint8_t>(token[0]) == 0x60, "initial token without [APPLICATION 0]");
    // The mechanism OID is the first element inside: tag 06 right after the outer header.
    const auto first = static_cast<uint8_t>(token[1]);
    const size_t header = first < 0x80 ? 2 : 2 + (first & 0x7fU);
    FUZZ_CHECK(header < token.size() && token[header] == 0x06, "initial token without an OID");
    auto oid = tlvSize(token.substr(header));
    FUZZ_CHECK(oid && header + *oid < token.size(), "initial token without an inner token");
    const bool spnego = token.substr(header, *oid) == kSpnegoOid;
    FUZZ_CHECK(spnego == (c == TokenCheck::kSpnegoInit), "SPNEGO verdict disagrees with the OID");
  }
  if (c == TokenCheck::kSpnegoResp) {
    FUZZ_CHECK(static_cast<uint8_t>(token[0]) == 0xa1, "negTokenResp verdict without tag a1");
  }
  // The direct-krb5 shape is a subset of what the pre-check calls a SPNEGO initial token, and
  // what it returns lies inside the token: the krb5 OID and one whole [APPLICATION 14] element.
  if (auto init = gssgate::proxy::parseSpnegoKrb5Init(token)) {
    FUZZ_CHECK(c == TokenCheck::kSpnegoInit, "direct-krb5 shape outside the SPNEGO pre-check");
    FUZZ_CHECK(init->mech_oid == std::string_view("\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"),
               "direct-krb5 shape with another first mechanism");
    const auto* begin = token.data();
    const auto* end = token.data() + token.size();
    FUZZ_CHECK(init->ap_req.data() >= begin && init->ap_req.data() + init->ap_req.size() == end,
               "AP-REQ view is not the token's tail");
    FUZZ_CHECK(!init->ap_req.empty() && static_cast<uint8_t>(init->ap_req[0]) == 0x6e,
               "AP-REQ view without [APPLICATION 14]");
    auto ap = tlvSize(init->ap_req);
    FUZZ_CHECK(ap && *ap == init->ap_req.size(), "AP-REQ view is not one whole element");
    // The reply builder frames whatever it is given: its outer length covers it exactly.
    const std::string reply = gssgate::proxy::spnegoAcceptCompleted(init->mech_oid, init->ap_req);
    auto total = tlvSize(reply);
    FUZZ_CHECK(total && *total == reply.size(), "reply's DER length is not its size");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  auto parsed = gssgate::proxy::parseAuthorization(in, kMaxToken);
  const std::string_view value = trim(in);
  const size_t space = value.find_first_of(" \t");
  std::string scheme(value.substr(0, space));
  for (char& ch : scheme) ch = static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
  if (scheme != "negotiate") {
    FUZZ_CHECK(parsed.kind == AuthorizationKind::kOtherScheme, "other scheme taken as Negotiate");
  } else {
    FUZZ_CHECK(parsed.kind != AuthorizationKind::kOtherScheme, "Negotiate taken as other scheme");
  }
  if (parsed.kind == AuthorizationKind::kNegotiate) {
    const std::string& token = parsed.token.str();
    FUZZ_CHECK(!token.empty() && token.size() <= kMaxToken, "token size out of bounds");
    FUZZ_CHECK(gssgate::base64Encode(token) == trim(value.substr(space)),
               "decoded token does not re-encode to the header's text");
    checkToken(token);
  } else {
    FUZZ_CHECK(parsed.token.str().empty(), "a refused header still carries token bytes");
  }

  checkToken(in);

  if (auto d = gssgate::base64Decode(in)) {
    FUZZ_CHECK(gssgate::base64Encode(*d) == in, "base64 accepted a non-canonical encoding");
  }
  if (auto d = gssgate::base64UrlDecode(in)) {
    FUZZ_CHECK(gssgate::base64UrlEncode(*d) == in, "base64url accepted a non-canonical encoding");
  }
  auto round = gssgate::base64Decode(gssgate::base64Encode(in));
  FUZZ_CHECK(round && *round == in, "base64 does not round-trip");
  auto uround = gssgate::base64UrlDecode(gssgate::base64UrlEncode(in));
  FUZZ_CHECK(uround && *uround == in, "base64url does not round-trip");
  return 0;
}

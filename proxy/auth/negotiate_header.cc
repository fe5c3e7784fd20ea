#include "proxy/auth/negotiate_header.h"

#include <cstdint>
#include <optional>

#include "common/base64.h"
#include "common/strings.h"

namespace gssgate::proxy {
namespace {

constexpr std::string_view kScheme = "negotiate";
// DER encoding of OID 1.3.6.1.5.5.2 (SPNEGO).
constexpr std::string_view kSpnegoOid = "\x06\x06\x2b\x06\x01\x05\x05\x02";

// Reads a DER definite length at `pos`; advances `pos`. Rejects indefinite and overlong forms.
std::optional<size_t> readDerLength(std::string_view in, size_t& pos) {
  if (pos >= in.size()) return std::nullopt;
  auto first = static_cast<uint8_t>(in[pos++]);
  if (first < 0x80) return first;
  size_t count = first & 0x7f;
  if (count == 0 || count > 4) return std::nullopt;  // indefinite, or > 4 GiB
  if (pos + count > in.size()) return std::nullopt;
  if (in[pos] == 0) return std::nullopt;  // leading zero byte: not the minimal encoding
  size_t len = 0;
  for (size_t i = 0; i < count; ++i) len = (len << 8) | static_cast<uint8_t>(in[pos++]);
  if (len < 0x80) return std::nullopt;  // must have used the short form
  return len;
}

}  // namespace

ParsedAuthorization parseAuthorization(std::string_view value, size_t max_token_bytes) {
  ParsedAuthorization out;
  value = trimAscii(value);
  auto space = value.find_first_of(" \t");
  std::string_view scheme = value.substr(0, space);
  if (!equalsIgnoreCase(scheme, kScheme)) {
    out.kind = AuthorizationKind::kOtherScheme;
    return out;
  }
  out.kind = AuthorizationKind::kMalformed;
  if (space == std::string_view::npos) return out;
  std::string_view b64 = trimAscii(value.substr(space));
  if (b64.empty() || b64.size() / 4 * 3 > max_token_bytes + 3) return out;
  auto decoded = base64Decode(b64);
  if (!decoded || decoded->empty() || decoded->size() > max_token_bytes) {
    if (decoded) secureWipe(*decoded);
    return out;
  }
  out.kind = AuthorizationKind::kNegotiate;
  out.token = SecretString(std::move(*decoded));
  return out;
}

TokenCheck checkNegotiateToken(std::string_view token) {
  if (token.starts_with(std::string_view("NTLMSSP\0", 8))) return TokenCheck::kNtlm;
  if (token.empty()) return TokenCheck::kMalformed;
  auto tag = static_cast<uint8_t>(token[0]);
  size_t pos = 1;
  auto len = readDerLength(token, pos);
  if (!len || *len != token.size() - pos) return TokenCheck::kMalformed;
  if (tag == 0x60) {
    // [APPLICATION 0] { thisMech OID, innerToken }: the OID must come first and be complete.
    if (pos + 2 > token.size() || token[pos] != 0x06) return TokenCheck::kMalformed;
    size_t oidPos = pos + 1;
    auto oidLen = readDerLength(token, oidPos);
    if (!oidLen || *oidLen == 0 || oidPos + *oidLen > token.size()) return TokenCheck::kMalformed;
    std::string_view oid = token.substr(pos, oidPos + *oidLen - pos);
    if (oidPos + *oidLen == token.size()) return TokenCheck::kMalformed;  // no inner token
    return oid == kSpnegoOid ? TokenCheck::kSpnegoInit : TokenCheck::kOtherMech;
  }
  if (tag == 0xa1) return TokenCheck::kSpnegoResp;
  return TokenCheck::kMalformed;
}

}  // namespace gssgate::proxy

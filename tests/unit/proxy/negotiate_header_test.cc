#include "proxy/auth/negotiate_header.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>

#include "common/base64.h"

namespace gssgate::proxy {
namespace {

using std::string_literals::operator""s;

// ---------------------------------------------------------------------------- DER builders
std::string derLength(size_t n) {
  if (n < 0x80) return std::string(1, static_cast<char>(n));
  std::string bytes;
  for (size_t v = n; v != 0; v >>= 8) bytes.insert(bytes.begin(), static_cast<char>(v & 0xff));
  return static_cast<char>(0x80 | bytes.size()) + bytes;
}

std::string der(unsigned char tag, const std::string& content) {
  return static_cast<char>(tag) + derLength(content.size()) + content;
}

// DER OIDs (tag and length included).
const std::string kSpnegoOid = "\x06\x06\x2b\x06\x01\x05\x05\x02"s;  // 1.3.6.1.5.5.2
const std::string kKrb5Oid =
    "\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"s;  // 1.2.840.113554.1.2.2
const std::string kMsKrb5Oid =
    "\x06\x09\x2a\x86\x48\x82\xf7\x12\x01\x02\x02"s;                 // 1.2.840.48018.1.2.2
const std::string kIakerbOid = "\x06\x06\x2b\x06\x01\x05\x02\x05"s;  // 1.3.6.1.5.2.5
const std::string kNtlmOid =
    "\x06\x0a\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"s;  // 1.3.6.1.4.1.311.2.2.10

// An RFC 2743 initial-context token: [APPLICATION 0] { thisMech, innerToken }.
std::string initialToken(const std::string& oid, const std::string& inner) {
  return der(0x60, oid + inner);
}

// A SPNEGO NegTokenInit (RFC 4178) listing `mechs` with an optimistic `mechToken`.
std::string spnegoInit(const std::string& mechs, const std::string& mechToken) {
  std::string negTokenInit = der(0xa0, der(0x30, mechs));                   // mechTypes [0]
  if (!mechToken.empty()) negTokenInit += der(0xa2, der(0x04, mechToken));  // mechToken [2]
  return initialToken(kSpnegoOid, der(0xa0, der(0x30, negTokenInit)));
}

// A stand-in for a Kerberos AP-REQ of `n` bytes (the pre-check never looks inside).
std::string fakeApReq(size_t n) {
  std::string body(n, '\0');
  for (size_t i = 0; i < n; ++i) body[i] = static_cast<char>((i * 37 + 11) & 0xff);
  return initialToken(kKrb5Oid, "\x01\x00"s + body);
}

std::string hex(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
    out += ' ';
  }
  return out;
}

// ---------------------------------------------------------------------------- parseAuthorization
constexpr size_t kMax = 64 * 1024;

TEST(ParseAuthorization, NegotiateWithValidBase64) {
  auto p = parseAuthorization("Negotiate YWJj", kMax);
  EXPECT_EQ(p.kind, AuthorizationKind::kNegotiate);
  EXPECT_EQ(p.token.str(), "abc");
}

TEST(ParseAuthorization, SchemeIsCaseInsensitive) {
  for (const char* scheme : {"Negotiate", "negotiate", "NEGOTIATE", "nEgOtIaTe"}) {
    auto p = parseAuthorization(std::string(scheme) + " YWJj", kMax);
    EXPECT_EQ(p.kind, AuthorizationKind::kNegotiate) << scheme;
    EXPECT_EQ(p.token.str(), "abc") << scheme;
  }
}

TEST(ParseAuthorization, SurroundingAndSeparatingWhitespaceIsAllowed) {
  for (const char* v :
       {"  Negotiate YWJj  ", "Negotiate   YWJj", "Negotiate\tYWJj", "\tNegotiate \t YWJj\t"}) {
    auto p = parseAuthorization(v, kMax);
    EXPECT_EQ(p.kind, AuthorizationKind::kNegotiate) << "'" << v << "'";
    EXPECT_EQ(p.token.str(), "abc") << "'" << v << "'";
  }
}

TEST(ParseAuthorization, MissingTokenIsMalformed) {
  for (const char* v : {"Negotiate", "negotiate ", "Negotiate    ", "Negotiate\t", " NEGOTIATE"}) {
    auto p = parseAuthorization(v, kMax);
    EXPECT_EQ(p.kind, AuthorizationKind::kMalformed) << "'" << v << "'";
    EXPECT_TRUE(p.token.empty());
  }
}

TEST(ParseAuthorization, BadBase64IsMalformed) {
  for (const char* v : {"Negotiate !!!not*base64$$$", "Negotiate YWJj@ZGVm",
                        "Negotiate Zm9v=YmFy=", "Negotiate ====", "Negotiate =", "Negotiate YWJ",
                        "Negotiate YW Jj", "Negotiate YWJj YWJj", "Negotiate YWI=x",
                        "Negotiate YWJjZA=", "Negotiate YR==",  // non-zero trailing bits
                        "Negotiate -_-_", "Negotiate YWJj,", "Negotiate YWJj\x01"}) {
    auto p = parseAuthorization(v, kMax);
    EXPECT_EQ(p.kind, AuthorizationKind::kMalformed) << "'" << v << "'";
    EXPECT_TRUE(p.token.empty()) << "'" << v << "'";
  }
}

TEST(ParseAuthorization, OtherSchemesAreNotOurs) {
  for (const char* v :
       {"Basic YWxpY2U6eA==", "Bearer abc.def.ghi", "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAA",
        "Kerberos YWJj", "Digest username=\"a\"", "", "   ", "Negotiat YWJj", "NegotiateYWJj",
        "Negotiate,YWJj", "Negotiate2 YWJj", "X-Negotiate YWJj"}) {
    auto p = parseAuthorization(v, kMax);
    EXPECT_EQ(p.kind, AuthorizationKind::kOtherScheme) << "'" << v << "'";
    EXPECT_TRUE(p.token.empty());
  }
}

TEST(ParseAuthorization, MaximumTokenSize) {
  // Exactly the limit is fine, one byte more is malformed.
  const std::string atLimit(300, 'x');
  auto ok = parseAuthorization("Negotiate " + base64Encode(atLimit), 300);
  EXPECT_EQ(ok.kind, AuthorizationKind::kNegotiate);
  EXPECT_EQ(ok.token.str(), atLimit);
  auto over = parseAuthorization("Negotiate " + base64Encode(atLimit + "y"), 300);
  EXPECT_EQ(over.kind, AuthorizationKind::kMalformed);
  EXPECT_TRUE(over.token.empty());
  for (size_t n : {1u, 2u, 3u}) {
    auto small = parseAuthorization("Negotiate " + base64Encode(std::string(n, 'z')), 3);
    EXPECT_EQ(small.kind, AuthorizationKind::kNegotiate) << n;
  }
  EXPECT_EQ(parseAuthorization("Negotiate " + base64Encode("wxyz"), 3).kind,
            AuthorizationKind::kMalformed);
}

TEST(ParseAuthorization, HugeTokenIsRefusedWithoutDecodingIt) {
  const std::string huge = "Negotiate " + std::string(8u << 20, 'A');
  const auto start = std::chrono::steady_clock::now();
  auto p = parseAuthorization(huge, kMax);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(p.kind, AuthorizationKind::kMalformed);
  EXPECT_LT(took, std::chrono::milliseconds(200));
}

TEST(ParseAuthorization, RealisticSpnegoTokenRoundTrips) {
  const std::string token = spnegoInit(kKrb5Oid, fakeApReq(1400));
  auto p = parseAuthorization("Negotiate " + base64Encode(token), kMax);
  ASSERT_EQ(p.kind, AuthorizationKind::kNegotiate);
  EXPECT_EQ(p.token.str(), token);
  EXPECT_EQ(checkNegotiateToken(p.token.str()), TokenCheck::kSpnegoInit);
  // Such tokens start "YII" in base64: 60 82 ...
  EXPECT_EQ(base64Encode(token).substr(0, 3), "YII");
}

// ---------------------------------------------------------------------------- checkNegotiateToken
TEST(CheckNegotiateToken, SpnegoInitialTokens) {
  // Long form with two length bytes: 60 82 LL LL 06 06 2b 06 01 05 05 02 ...
  const std::string big = spnegoInit(kMsKrb5Oid + kKrb5Oid, fakeApReq(600));
  ASSERT_EQ(big.substr(0, 2), "\x60\x82"s);
  EXPECT_EQ(big.substr(4, 8), kSpnegoOid);
  EXPECT_EQ(checkNegotiateToken(big), TokenCheck::kSpnegoInit) << hex(big.substr(0, 16));

  // One length byte (81) and the short form.
  const std::string medium = spnegoInit(kKrb5Oid, fakeApReq(100));
  ASSERT_EQ(medium.substr(0, 2), "\x60\x81"s);
  EXPECT_EQ(checkNegotiateToken(medium), TokenCheck::kSpnegoInit);
  const std::string small = spnegoInit(kKrb5Oid, "");
  ASSERT_LT(static_cast<unsigned char>(small[1]), 0x80);
  EXPECT_EQ(checkNegotiateToken(small), TokenCheck::kSpnegoInit);

  // Three length bytes (a token over 64 KiB) are still well-formed DER.
  const std::string huge = spnegoInit(kKrb5Oid, fakeApReq(70000));
  ASSERT_EQ(huge.substr(0, 2), "\x60\x83"s);
  EXPECT_EQ(checkNegotiateToken(huge), TokenCheck::kSpnegoInit);
}

TEST(CheckNegotiateToken, SpnegoWithOnlyNtlmInsideIsStillSpnegoForThePreCheck) {
  // The mech list is GSS's business (gss_set_neg_mechs refuses it); framing is fine.
  const std::string token = spnegoInit(kNtlmOid, "NTLMSSP\0\x01\0\0\0"s);
  EXPECT_EQ(checkNegotiateToken(token), TokenCheck::kSpnegoInit);
}

TEST(CheckNegotiateToken, NegTokenResp) {
  // negTokenResp [1] { SEQUENCE { negState [0] ENUMERATED accept-incomplete,
  //                               responseToken [2] OCTET STRING } }
  const std::string resp = der(
      0xa1, der(0x30, der(0xa0, "\x0a\x01\x01"s) + der(0xa2, der(0x04, std::string(200, 'r')))));
  EXPECT_EQ(checkNegotiateToken(resp), TokenCheck::kSpnegoResp);
  EXPECT_EQ(checkNegotiateToken("\xa1\x00"s), TokenCheck::kSpnegoResp);
  // Framing errors in a negTokenResp are still malformed.
  EXPECT_EQ(checkNegotiateToken(resp.substr(0, resp.size() - 1)), TokenCheck::kMalformed);
  EXPECT_EQ(checkNegotiateToken(resp + "x"), TokenCheck::kMalformed);
  EXPECT_EQ(checkNegotiateToken("\xa1"s), TokenCheck::kMalformed);
  EXPECT_EQ(checkNegotiateToken("\xa1\x80\x30\x00\x00\x00"s), TokenCheck::kMalformed);
}

TEST(CheckNegotiateToken, RawNtlmssp) {
  // Type 1 (negotiate) message as curl/browsers send it.
  auto type1 = base64Decode("TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==");
  ASSERT_TRUE(type1.has_value());
  EXPECT_EQ(checkNegotiateToken(*type1), TokenCheck::kNtlm);
  EXPECT_EQ(checkNegotiateToken("NTLMSSP\0"s), TokenCheck::kNtlm);
  EXPECT_EQ(checkNegotiateToken("NTLMSSP\0\x03\0\0\0"s + std::string(100, 'x')), TokenCheck::kNtlm);
  // Not quite NTLMSSP.
  EXPECT_EQ(checkNegotiateToken("NTLMSSP"), TokenCheck::kMalformed);
  EXPECT_EQ(checkNegotiateToken("NTLMSSP\x01"s), TokenCheck::kMalformed);
  EXPECT_EQ(checkNegotiateToken("ntlmssp\0"s), TokenCheck::kMalformed);
}

TEST(CheckNegotiateToken, OtherMechanismsAreRecognisedAsSuch) {
  // Raw Kerberos (1.2.840.113554.1.2.2): a real AP-REQ framing, not wrapped in SPNEGO.
  EXPECT_EQ(checkNegotiateToken(fakeApReq(500)), TokenCheck::kOtherMech);
  EXPECT_EQ(checkNegotiateToken(fakeApReq(10)), TokenCheck::kOtherMech);
  // The Microsoft Kerberos OID, IAKERB (1.3.6.1.5.2.5), NTLM's OID, NegoEx's
  // (1.3.6.1.4.1.311.2.2.30), and an OID that merely extends SPNEGO's.
  EXPECT_EQ(checkNegotiateToken(initialToken(kMsKrb5Oid, "\x01\x00xyz"s)), TokenCheck::kOtherMech);
  EXPECT_EQ(checkNegotiateToken(initialToken(kIakerbOid, "\x05\x01" + std::string(40, 'i'))),
            TokenCheck::kOtherMech);
  EXPECT_EQ(checkNegotiateToken(initialToken(kNtlmOid, "x")), TokenCheck::kOtherMech);
  EXPECT_EQ(
      checkNegotiateToken(initialToken("\x06\x0a\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x1e"s, "x")),
      TokenCheck::kOtherMech);
  EXPECT_EQ(checkNegotiateToken(initialToken("\x06\x07\x2b\x06\x01\x05\x05\x02\x01"s, "x")),
            TokenCheck::kOtherMech);
  // A prefix of SPNEGO's OID is not SPNEGO.
  EXPECT_EQ(checkNegotiateToken(initialToken("\x06\x05\x2b\x06\x01\x05\x05"s, "\x02x"s)),
            TokenCheck::kOtherMech);
}

TEST(CheckNegotiateToken, TruncatedEncapsulations) {
  for (const std::string& t :
       {"\x60"s, "\x60\x84"s, "\x60\x82"s, "\x60\x82\x01"s, "\x60\x40\x06"s, "\x60\x40\x06\x09"s,
        "\x60\x40\x06\x06\x2b\x06\x01\x05\x05\x02"s, "\x60\x00"s, "\x60\x01\x06"s,
        "\x60\x02\x06\x06"s, "\x60\x02\x06\x09"s, "\x60\x03\x06\x09\x2a"s,
        "\x60\x08\x06\x06\x2b\x06\x01\x05\x05\x02"s,  // the OID but no inner token
        "\x60\x06\x06\x06\x2b\x06\x01\x05"s}) {       // OID cut short
    EXPECT_EQ(checkNegotiateToken(t), TokenCheck::kMalformed) << hex(t);
  }
  // Every proper prefix of a real token is malformed (the outer length no longer fits).
  const std::string token = spnegoInit(kKrb5Oid, fakeApReq(300));
  for (size_t n = 0; n < token.size(); ++n) {
    ASSERT_EQ(checkNegotiateToken(token.substr(0, n)), TokenCheck::kMalformed) << n;
  }
}

TEST(CheckNegotiateToken, IndefiniteLengthIsRefused) {
  EXPECT_EQ(checkNegotiateToken("\x60\x80"s), TokenCheck::kMalformed);
  // BER indefinite form with an end-of-contents marker: valid BER, not DER.
  const std::string inner = kSpnegoOid + der(0xa0, der(0x30, ""));
  EXPECT_EQ(checkNegotiateToken("\x60\x80"s + inner + "\x00\x00"s), TokenCheck::kMalformed);
  // Indefinite length of the inner OID.
  EXPECT_EQ(checkNegotiateToken("\x60\x05\x06\x80\x2b\x00\x00"s), TokenCheck::kMalformed);
}

TEST(CheckNegotiateToken, OverlongLengthsAreRefused) {
  const std::string content = kSpnegoOid + der(0xa0, der(0x30, ""));  // 12 bytes
  ASSERT_EQ(checkNegotiateToken("\x60"s + derLength(content.size()) + content),
            TokenCheck::kSpnegoInit);
  // Long form for a length under 128.
  EXPECT_EQ(checkNegotiateToken("\x60\x81"s + static_cast<char>(content.size()) + content),
            TokenCheck::kMalformed);
  EXPECT_EQ(checkNegotiateToken("\x60\x82\x00"s + static_cast<char>(content.size()) + content),
            TokenCheck::kMalformed);
  // Leading zero length bytes for a length that needs the long form: not minimal, not DER.
  const std::string big = kSpnegoOid + der(0xa0, der(0x30, std::string(200, '\x05')));
  ASSERT_EQ(checkNegotiateToken("\x60"s + derLength(big.size()) + big), TokenCheck::kSpnegoInit);
  const auto n = static_cast<char>(big.size());
  EXPECT_EQ(checkNegotiateToken("\x60\x82\x00"s + n + big), TokenCheck::kMalformed);
  EXPECT_EQ(checkNegotiateToken("\x60\x83\x00\x00"s + n + big), TokenCheck::kMalformed);
  EXPECT_EQ(checkNegotiateToken("\x60\x84\x00\x00\x00"s + n + big), TokenCheck::kMalformed);
  // More than four length bytes (lengths over 4 GiB), and the reserved 0xff.
  EXPECT_EQ(checkNegotiateToken("\x60\x85\x00\x00\x00\x00"s + n + big), TokenCheck::kMalformed);
  EXPECT_EQ(checkNegotiateToken("\x60\x88\xff\xff\xff\xff\xff\xff\xff\xff"s + big),
            TokenCheck::kMalformed);
  EXPECT_EQ(checkNegotiateToken("\x60\xff"s + big), TokenCheck::kMalformed);
  // Long form inside: the OID length.
  EXPECT_EQ(checkNegotiateToken(der(0x60, "\x06\x81\x06\x2b\x06\x01\x05\x05\x02xx"s)),
            TokenCheck::kMalformed);
}

TEST(CheckNegotiateToken, LengthMismatch) {
  const std::string token = spnegoInit(kKrb5Oid, fakeApReq(50));
  ASSERT_EQ(checkNegotiateToken(token), TokenCheck::kSpnegoInit);
  // Trailing bytes after the outer value.
  EXPECT_EQ(checkNegotiateToken(token + "\x00"s), TokenCheck::kMalformed);
  EXPECT_EQ(checkNegotiateToken(token + token), TokenCheck::kMalformed);
  // Declared length one more / one less than present (short and long form).
  for (const std::string& t : {token, spnegoInit(kKrb5Oid, fakeApReq(1000))}) {
    const size_t at = static_cast<unsigned char>(t[1]) < 0x80 ? 1 : t.size() > 255 + 3 ? 3 : 2;
    std::string longer = t;
    longer[at] = static_cast<char>(static_cast<unsigned char>(longer[at]) + 1);
    EXPECT_EQ(checkNegotiateToken(longer), TokenCheck::kMalformed) << hex(longer.substr(0, 4));
    std::string shorter = t;
    shorter[at] = static_cast<char>(static_cast<unsigned char>(shorter[at]) - 1);
    EXPECT_EQ(checkNegotiateToken(shorter), TokenCheck::kMalformed) << hex(shorter.substr(0, 4));
  }
  // The OID's length runs past the end of the token.
  EXPECT_EQ(checkNegotiateToken("\x60\x04\x06\x7f\x2b\x06"s), TokenCheck::kMalformed);
}

TEST(CheckNegotiateToken, NotAGssToken) {
  for (const std::string& t :
       {""s, "\x00"s, "hello world, not a token"s, "\x30\x03\x02\x01\x05"s,  // a SEQUENCE
        "\xa0\x03\x30\x01\x00"s,                                             // bare negTokenInit
        "\x61\x02\x06\x00"s, "\x04\x00"s, "NTLM"s, "\x60\x02\x30\x00"s,      // no OID first
        "\x60\x02\x06\x00"s}) {                                              // empty OID
    EXPECT_EQ(checkNegotiateToken(t), TokenCheck::kMalformed) << hex(t);
  }
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  EXPECT_EQ(checkNegotiateToken(all), TokenCheck::kMalformed);
}

TEST(CheckNegotiateToken, EveryTwoByteAndThreeBytePrefixIsHandled) {
  // No input may crash or read out of bounds (run under ASan); nothing this short is a token.
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      std::string t{static_cast<char>(a), static_cast<char>(b)};
      const TokenCheck c = checkNegotiateToken(t);
      if (a == 0xa1 && b == 0) {
        EXPECT_EQ(c, TokenCheck::kSpnegoResp);
      } else {
        ASSERT_EQ(c, TokenCheck::kMalformed) << hex(t);
      }
      t += '\x06';
      (void)checkNegotiateToken(t);
    }
  }
}

}  // namespace
}  // namespace gssgate::proxy

#include "proxy/auth/spnego_token.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace gssgate::proxy {
namespace {

using namespace std::string_literals;  // NOLINT(google-build-using-namespace)

const std::string kSpnegoOid = "\x06\x06\x2b\x06\x01\x05\x05\x02"s;
const std::string kKrb5Oid = "\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"s;
const std::string kMsKrb5Oid = "\x06\x09\x2a\x86\x48\x82\xf7\x12\x01\x02\x02"s;
const std::string kNtlmOid = "\x06\x0a\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"s;

std::string tlv(unsigned char tag, const std::string& body) {
  std::string out(1, static_cast<char>(tag));
  if (body.size() < 0x80) {
    out += static_cast<char>(body.size());
  } else if (body.size() <= 0xff) {
    out += "\x81"s + static_cast<char>(body.size());
  } else {
    out += "\x82"s + static_cast<char>(body.size() >> 8) + static_cast<char>(body.size() & 0xff);
  }
  return out + body;
}

// A stand-in AP-REQ: [APPLICATION 14] SEQUENCE { pvno 5 } plus padding to a realistic size.
std::string apReq(size_t pad = 300) {
  return tlv(0x6e, tlv(0x30, tlv(0xa0, "\x02\x01\x05"s) + tlv(0xa9, std::string(pad, 'x'))));
}

std::string krb5Token(const std::string& ap, const std::string& oid = kKrb5Oid,
                      const std::string& tok_id = "\x01\x00"s) {
  return tlv(0x60, oid + tok_id + ap);
}

struct Init {
  std::string mechs = kKrb5Oid + kNtlmOid;
  std::string req_flags;  // "" = absent
  std::string mech_token = krb5Token(apReq());
  bool with_token = true;
  std::string mic;  // "" = absent
  std::string build() const {
    std::string fields = tlv(0xa0, tlv(0x30, mechs));
    if (!req_flags.empty()) fields += tlv(0xa1, req_flags);
    if (with_token) fields += tlv(0xa2, tlv(0x04, mech_token));
    if (!mic.empty()) fields += tlv(0xa3, tlv(0x04, mic));
    return tlv(0x60, kSpnegoOid + tlv(0xa0, tlv(0x30, fields)));
  }
};

TEST(SpnegoToken, FindsTheApReqInTheUsualFirstToken) {
  const std::string token = Init{}.build();
  auto init = parseSpnegoKrb5Init(token);
  ASSERT_TRUE(init);
  EXPECT_EQ(init->mech_oid, kKrb5Oid);
  EXPECT_EQ(init->ap_req, apReq());
  // reqFlags are allowed (and ignored).
  Init with_flags;
  with_flags.req_flags = "\x03\x02\x01\x06"s;
  EXPECT_TRUE(parseSpnegoKrb5Init(with_flags.build()));
  // Kerberos alone in the list.
  Init alone;
  alone.mechs = kKrb5Oid;
  EXPECT_TRUE(parseSpnegoKrb5Init(alone.build()));
}

TEST(SpnegoToken, EveryOtherShapeIsLeftToGss) {
  Init ms;  // Windows lists the Microsoft OID first
  ms.mechs = kMsKrb5Oid + kKrb5Oid;
  Init ntlm_first;
  ntlm_first.mechs = kNtlmOid + kKrb5Oid;
  Init no_token;
  no_token.with_token = false;
  Init mic;
  mic.mic = "0123456789abcdef";
  Init other_inner_oid;
  other_inner_oid.mech_token = krb5Token(apReq(), kMsKrb5Oid);
  Init ap_rep_inside;
  ap_rep_inside.mech_token = krb5Token(apReq(), kKrb5Oid, "\x02\x00"s);
  Init not_ap_req;
  not_ap_req.mech_token = krb5Token(tlv(0x6f, "\x30\x00"s));
  Init trailing_in_token;
  trailing_in_token.mech_token = krb5Token(apReq() + "\x00"s);
  Init empty_mechs;
  empty_mechs.mechs = "";
  for (const Init* i : {&ms, &ntlm_first, &no_token, &mic, &other_inner_oid, &ap_rep_inside,
                        &not_ap_req, &trailing_in_token, &empty_mechs}) {
    EXPECT_FALSE(parseSpnegoKrb5Init(i->build())) << testing::PrintToString(i->build());
  }
  EXPECT_FALSE(parseSpnegoKrb5Init(Init{}.build() + "\x00"s));  // trailing byte
  EXPECT_FALSE(parseSpnegoKrb5Init(krb5Token(apReq())));        // raw krb5, no SPNEGO
  EXPECT_FALSE(parseSpnegoKrb5Init(""));
}

TEST(SpnegoToken, EveryTruncationIsRefused) {
  const std::string token = Init{}.build();
  for (size_t n = 0; n < token.size(); ++n) {
    EXPECT_FALSE(parseSpnegoKrb5Init(token.substr(0, n))) << n;
  }
}

TEST(SpnegoToken, NonMinimalLengthsAreRefused) {
  // The outer length in long form although it would fit the short form... and with a
  // leading zero byte.
  const std::string body = kSpnegoOid + tlv(0xa0, tlv(0x30, tlv(0xa0, tlv(0x30, kKrb5Oid))));
  ASSERT_LT(body.size(), 0x80U);
  EXPECT_FALSE(parseSpnegoKrb5Init("\x60\x81"s + static_cast<char>(body.size()) + body));
  const std::string token = Init{}.build();
  ASSERT_EQ(static_cast<unsigned char>(token[1]), 0x82);
  EXPECT_FALSE(parseSpnegoKrb5Init("\x60\x83\x00"s + token.substr(2)));
}

TEST(SpnegoToken, ReplyCompletesWithTheMechanismAndTheApRep) {
  // Without mutual authentication: negState accept-completed and supportedMech only.
  EXPECT_EQ(spnegoAcceptCompleted(kKrb5Oid, ""),
            tlv(0xa1, tlv(0x30, tlv(0xa0, "\x0a\x01\x00"s) + tlv(0xa1, kKrb5Oid))));
  // With it: responseToken = the krb5 token (TOK_ID 02 00) around the AP-REP, long lengths too.
  const std::string ap_rep = tlv(0x6f, std::string(400, 'r'));
  EXPECT_EQ(
      spnegoAcceptCompleted(kKrb5Oid, ap_rep),
      tlv(0xa1, tlv(0x30, tlv(0xa0, "\x0a\x01\x00"s) + tlv(0xa1, kKrb5Oid) +
                              tlv(0xa2, tlv(0x04, krb5Token(ap_rep, kKrb5Oid, "\x02\x00"s))))));
}

}  // namespace
}  // namespace gssgate::proxy

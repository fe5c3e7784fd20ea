#include "proxy/auth/spnego_token.h"

#include <cstdint>

namespace gssgate::proxy {
namespace {

// DER of OID 1.3.6.1.5.5.2 (SPNEGO) and 1.2.840.113554.1.2.2 (Kerberos 5, RFC 1964).
constexpr std::string_view kSpnegoOid = "\x06\x06\x2b\x06\x01\x05\x05\x02";
constexpr std::string_view kKrb5Oid = "\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";
constexpr std::string_view kTokIdApReq("\x01\x00", 2);
constexpr std::string_view kTokIdApRep("\x02\x00", 2);

// A strict DER reader over one buffer: definite, minimal lengths that fit what is left.
class Der {
 public:
  explicit Der(std::string_view in) : in_(in) {}
  bool empty() const { return in_.empty(); }
  uint8_t peek() const { return in_.empty() ? 0 : static_cast<uint8_t>(in_[0]); }

  // Reads one element with tag `tag`; its contents in `body`, the whole element in `whole`.
  bool read(uint8_t tag, std::string_view& body, std::string_view* whole = nullptr) {
    if (in_.size() < 2 || static_cast<uint8_t>(in_[0]) != tag) return false;
    size_t pos = 1;
    auto first = static_cast<uint8_t>(in_[pos++]);
    size_t len = first;
    if (first >= 0x80) {
      const size_t count = first & 0x7fU;
      if (count == 0 || count > 3 || pos + count > in_.size()) return false;
      if (in_[pos] == 0) return false;  // leading zero: not minimal
      len = 0;
      for (size_t i = 0; i < count; ++i) len = (len << 8U) | static_cast<uint8_t>(in_[pos++]);
      if (len < 0x80) return false;  // must have used the short form
    }
    if (len > in_.size() - pos) return false;
    body = in_.substr(pos, len);
    if (whole != nullptr) *whole = in_.substr(0, pos + len);
    in_.remove_prefix(pos + len);
    return true;
  }

 private:
  std::string_view in_;
};

void appendLength(std::string& out, size_t len) {
  if (len < 0x80) {
    out += static_cast<char>(len);
  } else if (len <= 0xff) {
    out += '\x81';
    out += static_cast<char>(len);
  } else if (len <= 0xffff) {
    out += '\x82';
    out += static_cast<char>(len >> 8U);
    out += static_cast<char>(len & 0xffU);
  } else {
    out += '\x83';
    out += static_cast<char>(len >> 16U);
    out += static_cast<char>((len >> 8U) & 0xffU);
    out += static_cast<char>(len & 0xffU);
  }
}

std::string tlv(uint8_t tag, std::string_view body) {
  std::string out;
  out.reserve(body.size() + 5);
  out += static_cast<char>(tag);
  appendLength(out, body.size());
  out += body;
  return out;
}

}  // namespace

std::optional<SpnegoKrb5Init> parseSpnegoKrb5Init(std::string_view token) {
  // InitialContextToken: [APPLICATION 0] { thisMech OID, NegotiationToken }
  Der outer(token);
  std::string_view app, oid, choice, init, mech_types, mech_list;
  if (!outer.read(0x60, app) || !outer.empty()) return std::nullopt;
  Der in_app(app);
  if (!in_app.read(0x06, oid, &oid) || oid != kSpnegoOid) return std::nullopt;
  // NegotiationToken CHOICE negTokenInit [0], NegTokenInit SEQUENCE
  if (!in_app.read(0xa0, choice) || !in_app.empty()) return std::nullopt;
  Der in_choice(choice);
  if (!in_choice.read(0x30, init) || !in_choice.empty()) return std::nullopt;
  Der fields(init);
  // mechTypes [0] SEQUENCE OF OID: the first one must be Kerberos 5 (the standard OID; the
  // Microsoft variant and everything else take the GSS path).
  if (!fields.read(0xa0, mech_types)) return std::nullopt;
  Der in_types(mech_types);
  if (!in_types.read(0x30, mech_list) || !in_types.empty()) return std::nullopt;
  Der mechs(mech_list);
  std::string_view first_body, first;
  if (!mechs.read(0x06, first_body, &first) || first != kKrb5Oid) return std::nullopt;
  while (!mechs.empty()) {
    std::string_view ignored;
    if (!mechs.read(0x06, ignored)) return std::nullopt;
  }
  // reqFlags [1] (optional, ignored as RFC 4178 says), then mechToken [2] OCTET STRING.
  std::string_view req_flags, mech_token_field, mech_token;
  if (fields.peek() == 0xa1 && !fields.read(0xa1, req_flags)) return std::nullopt;
  if (!fields.read(0xa2, mech_token_field)) return std::nullopt;
  Der in_token_field(mech_token_field);
  if (!in_token_field.read(0x04, mech_token) || !in_token_field.empty()) return std::nullopt;
  // Nothing after it: a mechListMIC [3] (or anything else) takes the GSS path.
  if (!fields.empty()) return std::nullopt;

  // The krb5 token: [APPLICATION 0] { OID krb5, TOK_ID 01 00, AP-REQ } (RFC 1964 §1.1).
  Der krb(mech_token);
  std::string_view krb_app, krb_oid, ap_req_body, ap_req;
  if (!krb.read(0x60, krb_app) || !krb.empty()) return std::nullopt;
  Der in_krb(krb_app);
  if (!in_krb.read(0x06, krb_oid, &krb_oid) || krb_oid != kKrb5Oid) return std::nullopt;
  std::string_view rest = krb_app.substr(krb_oid.size());
  if (!rest.starts_with(kTokIdApReq)) return std::nullopt;
  rest.remove_prefix(kTokIdApReq.size());
  // AP-REQ ::= [APPLICATION 14] SEQUENCE {...}: exactly one element filling the rest.
  Der in_ap(rest);
  if (!in_ap.read(0x6e, ap_req_body, &ap_req) || !in_ap.empty()) return std::nullopt;
  return SpnegoKrb5Init{first, ap_req};
}

std::string spnegoAcceptCompleted(std::string_view mech_oid, std::string_view ap_rep) {
  std::string fields =
      tlv(0xa0, std::string_view("\x0a\x01\x00", 3));  // negState ENUMERATED accept-completed (0)
  fields += tlv(0xa1, mech_oid);                       // supportedMech
  if (!ap_rep.empty()) {
    std::string krb_token(kKrb5Oid);
    krb_token += kTokIdApRep;
    krb_token += ap_rep;
    fields += tlv(0xa2, tlv(0x04, tlv(0x60, krb_token)));  // responseToken
  }
  return tlv(0xa1, tlv(0x30, fields));
}

}  // namespace gssgate::proxy
